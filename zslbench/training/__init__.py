"""Training on a protocol's source classes: end-to-end on videos (one process or torchrun) and the
classic methods on backbone features; resumable, audited against the rule before the first step."""
