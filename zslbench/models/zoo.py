"""The built-in models. Importing this module imports no torch; the builders do."""

from __future__ import annotations

from zslbench.core.errors import named
from zslbench.models import ANY_BACKBONE, register_model
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.prompts import TextSpec

# c3d.py's input statistics, repeated here because importing it would import torch (this module
# must not); tests/test_c3d.py checks that the two agree.
SPORTS1M_MEAN = (104 / 255, 117 / 255, 128 / 255)
SPORTS1M_STD = (1 / 255, 1 / 255, 1 / 255)

COMMON = {"width": 1.0, "dropout": 0.05, "init": None}
INIT_PATH = named("--init PATH", "the model option init=PATH")  # how a hint asks for initial weights


@register_model(
    "e2e_r2plus1d",
    kind="end_to_end",
    backbone="r2plus1d_18",
    summary="R(2+1)D-18 trained end to end to regress class-name vectors (the paper's method)",
    feature_dim=512,
    **COMMON,
)
def e2e_r2plus1d(embed_dim: int, width: float = 1.0, dropout: float = 0.05, init: str | None = None):
    """The paper's model (Brattoli et al. 2020, Sec. 3.2): R(2+1)D-18, dropout, linear to `embed_dim`, L2 norm.

    clips [B, clips, 3, T, H, W] -> [B, embed_dim]; `init` optionally starts the backbone from a
    torchvision-style state dict. ZslbenchError for a width or dropout out of range or unfitting weights."""
    return _build("r2plus1d_18", embed_dim, width, dropout, init, frozen=False)


@register_model(
    "e2e_r3d",
    kind="end_to_end",
    backbone="r3d_18",
    summary="R3D-18 trained end to end to regress class-name vectors",
    feature_dim=512,
    **COMMON,
)
def e2e_r3d(embed_dim: int, width: float = 1.0, dropout: float = 0.05, init: str | None = None):
    """As `e2e_r2plus1d` with an R3D-18 backbone (full 3x3x3 convolutions; the paper's supplementary Table 1)."""
    return _build("r3d_18", embed_dim, width, dropout, init, frozen=False)


@register_model(
    "e2e_c3d",
    kind="end_to_end",
    backbone="c3d",
    summary="C3D trained end to end to regress class-name vectors (16x112x112 clips; the paper's C3D rows)",
    feature_dim=4096,
    width=1.0,
    dropout=0.0,
    init=None,
)
def e2e_c3d(embed_dim: int, width: float = 1.0, dropout: float = 0.0, init: str | None = None):
    """The reference's C3D (network.py): dropout 0.1 after fc6 inside the backbone and, by default,
    none before the head, as the reference's regressor reads the clip-averaged fc6 features.

    Input: the default (Kinetics) mean/std, as the reference normalises every network alike
    (auxiliary/auxiliary_dataset.py `get_transform` does not look at the network), so its imported
    C3D checkpoints see the input they were trained on. `--init` takes the Sports-1M port's state dict
    (c3d.py), its fc7/fc8 left out."""
    return _build_c3d(embed_dim, width, dropout, init, frozen=False)


@register_model(
    "frozen_c3d",
    kind="features",
    backbone="c3d",
    summary="C3D frozen at --init weights (e.g. the Sports-1M port), only the head trained",
    feature_dim=4096,
    mean=SPORTS1M_MEAN,
    std=SPORTS1M_STD,
    width=1.0,
    dropout=0.05,
    init=None,
)
def frozen_c3d(embed_dim: int, width: float = 1.0, dropout: float = 0.05, init: str | None = None, features=None):
    """As `frozen_r2plus1d`, on C3D's fc6: on videos (--init, --data) the whole network, backbone frozen
    (eval mode, so fc6's dropout is off); on a features file, the head.

    Input: the Sports-1M weights' own statistics (c3d.SPORTS1M_MEAN / SPORTS1M_STD: pixels 0..255 less
    the channel means), since a frozen extractor gets no chance to adapt to another normalisation."""
    if features is not None:
        from zslbench.models.feature_methods import LinearHead

        return LinearHead(features, embed_dim, dropout)
    return _build_c3d(embed_dim, width, dropout, init, frozen=True)


@register_model(
    "frozen_r2plus1d",
    kind="features",
    backbone="r2plus1d_18",
    summary="R(2+1)D-18 frozen at --init weights, only the head trained (the paper's baseline)",
    feature_dim=512,
    **COMMON,
)
def frozen_r2plus1d(embed_dim: int, width: float = 1.0, dropout: float = 0.05, init: str | None = None, features=None):
    """On videos (--init, --data): the whole network, backbone frozen; on a features file: the head."""
    if features is not None:
        from zslbench.models.feature_methods import LinearHead

        return LinearHead(features, embed_dim, dropout)
    return _build("r2plus1d_18", embed_dim, width, dropout, init, frozen=True)


@register_model(
    "devise",
    kind="features",
    backbone=ANY_BACKBONE,
    summary="DeViSE (Frome et al. 2013): linear map to the class-vector space, hinge rank loss",
    feature_dim=512,
    margin=0.1,
)
def devise(embed_dim: int, features, margin: float = 0.1):
    """DeViSE on backbone features (`feature_methods.DeViSE`): features [N, in_dim] -> unit [N, embed_dim]."""
    from zslbench.models.feature_methods import DeViSE

    return DeViSE(features, embed_dim, margin)


@register_model(
    "eszsl",
    kind="features",
    backbone=ANY_BACKBONE,
    summary="ESZSL (Romera-Paredes & Torr 2015): closed-form bilinear compatibility",
    feature_dim=512,
    gamma=None,
    lam=None,
)
def eszsl(embed_dim: int, features, gamma: float | None = None, lam: float | None = None):
    """ESZSL on backbone features (`feature_methods.ESZSL`); None regularisers are searched on held-out
    source classes. ZslbenchError for a gamma or lam that is not a positive number."""
    from zslbench.models.feature_methods import ESZSL

    return ESZSL(features, embed_dim, gamma, lam)


@register_model(
    "conse",
    kind="features",
    backbone=ANY_BACKBONE,
    summary="ConSE (Norouzi et al. 2014): top-T source-class probabilities weight their class vectors",
    feature_dim=512,
    top_t=10,
)
def conse(embed_dim: int, features, top_t: int = 10):
    """ConSE on backbone features (`feature_methods.ConSE`); ZslbenchError for `top_t` < 1."""
    from zslbench.models.feature_methods import ConSE

    return ConSE(features, embed_dim, top_t)


# A video-text model's input options: None reads the model's own (its registered VideoInput, refined by
# its weights: the config's image size, the preprocessor's statistics, X-CLIP's frame count).
BUNDLED_TOKENIZER = "tokenizer"  # where the zoo keeps a state dict's tokenizer files (video_text/zoo_entry.py)
INPUT_OPTIONS = dict.fromkeys(("frames", "sampling", "stride", "size", "views", "crops", "view_average"))


@register_model(
    "clip_frames",
    kind="video_text",
    backbone="clip-vit",
    summary="CLIP's image tower on each frame, then the mean over time (ViFi-CLIP) or a small trainable attention",
    feature_dim=512,
    input=VideoInput(),
    text=TextSpec(),
    temporal="mean",
    tokenizer=None,
    **INPUT_OPTIONS,
)
def clip_frames(weights, temporal: str = "mean", tokenizer: str | None = None, **input_values):
    """CLIP per frame (ViFi-CLIP, Rasheed et al. CVPR 2023: frame embeddings averaged over time).
    `weights`: an HF CLIP folder, or an OpenAI-CLIP-format state dict (.pt/.pth, bare or wrapped as
    the video papers release them) with `tokenizer` a folder of CLIP tokenizer files."""
    from zslbench.models.video_text.clip_frames import load_clip_frames

    path = _weights_path(weights)
    if path.is_dir() and not (path / "config.json").exists():  # a state dict kept with its tokenizer
        path = _state_dict_in(path)
        if tokenizer is None and (path.parent / BUNDLED_TOKENIZER).is_dir():
            tokenizer = str(path.parent / BUNDLED_TOKENIZER)
    return load_clip_frames(path, temporal=temporal, tokenizer=tokenizer, **input_values)


def _state_dict_in(folder):
    """The one state dict file of a folder without config.json (what `weights add FILE.pt` keeps: the
    file, and its tokenizer files in BUNDLED_TOKENIZER); another folder is a ZslbenchError."""
    from zslbench.core.errors import ZslbenchError

    files = [p for p in sorted(folder.iterdir()) if p.suffix in (".pt", ".pth", ".bin", ".safetensors")]
    if len(files) != 1:
        raise ZslbenchError(
            f"{folder} has no config.json and {len(files)} weights files",
            "pass an HF CLIP folder (config.json, weights, tokenizer), or the state dict file itself",
        )
    return files[0]


@register_model(
    "xclip",
    kind="video_text",
    backbone="xclip-vit",
    summary="X-CLIP (Ni et al., ECCV 2022): cross-frame attention, video-conditioned text prompts",
    feature_dim=512,
    input=VideoInput(),
    text=TextSpec(),
    **INPUT_OPTIONS,
)
def xclip(weights, **input_values):
    """transformers' XCLIPModel from an HF folder; its frame count is its config's."""
    from zslbench.models.video_text.xclip import load_xclip

    return load_xclip(_weights_path(weights), **input_values)


def _weights_path(weights):
    """The weights' path, once transformers (the `video-text` extra) is importable."""
    import importlib.util
    from pathlib import Path

    from zslbench.core.errors import ZslbenchError

    if importlib.util.find_spec("transformers") is None:
        raise ZslbenchError(
            "the built-in video-text models run on HF transformers, which is not installed",
            "pip install 'zslbench[video-text]'",
        )
    if weights is None:
        raise ZslbenchError(
            "a video-text model needs its weights",
            f"pass {named('--weights DIR', 'weights=DIR')} (an HF model folder) or FILE",
        )
    return Path(weights)


def _build(backbone_name: str, embed_dim: int, width: float, dropout: float, init: str | None, frozen: bool):
    from zslbench.core.bounds import DROPOUT, WIDTH
    from zslbench.core.errors import ZslbenchError
    from zslbench.models.resnet3d import VideoResNet
    from zslbench.models.zeroshot import ZeroShotVideoModel, load_backbone_weights

    if frozen and init is None:
        raise ZslbenchError(
            "a frozen backbone needs pretrained weights", f"pass {INIT_PATH} (e.g. r2plus1d_18 Kinetics-400)"
        )
    backbone = VideoResNet(backbone_name, width=WIDTH.check(width, "width"))
    if init is not None:
        load_backbone_weights(backbone, init)
    dropout = DROPOUT.check(dropout, "dropout")
    return ZeroShotVideoModel(backbone, embed_dim, dropout=dropout, frozen=frozen)


def _build_c3d(embed_dim: int, width: float, dropout: float, init: str | None, frozen: bool):
    """C3D (c3d.py) under the zero-shot head; `init` loads a state dict in the Sports-1M port's layout
    (or a zslbench checkpoint's backbone), its fc7/fc8 skipped."""
    from zslbench.core.bounds import DROPOUT, WIDTH
    from zslbench.core.errors import ZslbenchError
    from zslbench.models.c3d import C3D, PORT_UNUSED
    from zslbench.models.zeroshot import ZeroShotVideoModel, load_backbone_weights

    if frozen and init is None:
        raise ZslbenchError(
            "a frozen backbone needs pretrained weights", f"pass {INIT_PATH} (e.g. the Sports-1M C3D port, c3d.pickle)"
        )
    backbone = C3D(width=WIDTH.check(width, "width"))
    if init is not None:
        load_backbone_weights(backbone, init, ignored=("fc.", *PORT_UNUSED))
    return ZeroShotVideoModel(backbone, embed_dim, dropout=DROPOUT.check(dropout, "dropout"), frozen=frozen)
