"""Videos: manifests of (path, label), protocol clip sampling, decoding, and the synthetic benchmark.

Nothing here imports torch or decord at module import; the functions that need them do.
"""
