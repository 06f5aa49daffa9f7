"""Reading and writing: 10x HDF5 matrices (:mod:`.tenx_h5`), files and folders that appear whole
or not at all (:mod:`.atomic`), per-cell arrays on disk (:mod:`.npy`), Space Ranger folders
(:mod:`.spaceranger`). Nothing is imported here, so a light module can use :mod:`.atomic`."""
