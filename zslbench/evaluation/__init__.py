"""Evaluation: models embed a test dataset's videos (cached, sharded under torchrun), the embeddings
are scored on every split the protocol names, and one result record is written per dataset."""
