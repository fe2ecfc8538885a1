"""Infrastructure every room uses, none of it specific to zero-shot video: errors and exit codes,
folders, atomic files, fingerprints, the registry, schema checks, value bounds, library versions
and torchrun. Nothing here imports from the rest of zslbench."""
