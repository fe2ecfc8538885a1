"""The tiny training run tests share: the paper's model at 1/8 width on the synthetic benchmark."""

from zslbench.training.trainer import TrainConfig

TINY = {"width": 0.125}


def tiny_config(synth, out, **changes) -> TrainConfig:
    """One epoch of e2e_r2plus1d at width 0.125 on `synth` (the `synth_dataset` fixture), into `out`."""
    base = {
        "model": "e2e_r2plus1d",
        "out": out,
        "data": {"synth-source": synth.root / "source.csv"},
        "protocol": str(synth.protocol),
        "model_options": TINY,
        "epochs": 1,
    }
    return TrainConfig(**{**base, **changes})
