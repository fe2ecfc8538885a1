"""The built-in models. Importing this module imports no torch; the builders do."""

from __future__ import annotations

from zslbench.models import ANY_BACKBONE, register_model

COMMON = {"width": 1.0, "dropout": 0.05, "init": None}


@register_model(
    "e2e_r2plus1d",
    kind="end_to_end",
    backbone="r2plus1d_18",
    summary="R(2+1)D-18 trained end to end to regress class-name vectors (the paper's method)",
    feature_dim=512,
    **COMMON,
)
def e2e_r2plus1d(embed_dim: int, width: float = 1.0, dropout: float = 0.05, init: str | None = None):
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
    none before the head, as the reference's regressor reads the clip-averaged fc6 features."""
    from zslbench.core.bounds import DROPOUT, WIDTH
    from zslbench.models.c3d import C3D
    from zslbench.models.zeroshot import ZeroShotVideoModel, load_backbone_weights

    backbone = C3D(width=WIDTH.check(width, "width"))
    if init is not None:
        load_backbone_weights(backbone, init)
    return ZeroShotVideoModel(backbone, embed_dim, dropout=DROPOUT.check(dropout, "dropout"))


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
    from zslbench.models.feature_methods import ConSE

    return ConSE(features, embed_dim, top_t)


def _build(backbone_name: str, embed_dim: int, width: float, dropout: float, init: str | None, frozen: bool):
    from zslbench.core.bounds import DROPOUT, WIDTH
    from zslbench.core.errors import ZslbenchError
    from zslbench.models.resnet3d import VideoResNet
    from zslbench.models.zeroshot import ZeroShotVideoModel, load_backbone_weights

    if frozen and init is None:
        raise ZslbenchError(
            "a frozen backbone needs pretrained weights", "pass --init PATH (e.g. r2plus1d_18 Kinetics-400)"
        )
    backbone = VideoResNet(backbone_name, width=WIDTH.check(width, "width"))
    if init is not None:
        load_backbone_weights(backbone, init)
    dropout = DROPOUT.check(dropout, "dropout")
    return ZeroShotVideoModel(backbone, embed_dim, dropout=dropout, frozen=frozen)
