from cellannotate.cli import main

main()
