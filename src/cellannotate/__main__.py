from cellannotate.entry import cellannotate

cellannotate()
