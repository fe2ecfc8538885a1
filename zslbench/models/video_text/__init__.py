"""Video-text models: a video tower and a text tower in one embedding space (CLIP-era models).

Such a model brings its own text tower, so the classes it is scored against are its text
embeddings of prompts (`zslbench.text.prompts`), while the rule (split, audit, compliance) keeps
the protocol's word embedding. `contract.VideoTextModel` is what a builder of kind `video_text`
returns; `clip_frames` and `xclip` are the built-ins, on HF transformers.
"""
