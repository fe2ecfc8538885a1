"""Zero-shot methods over frozen backbone features: DeViSE, ESZSL, ConSE and the paper's linear head.

Each is a module that learns from the source classes' features and class vectors, then maps any
video's features into the class-embedding space as a unit vector, so the evaluator ranks classes for
them exactly as for the end-to-end models. Features are standardised with the source statistics,
which live in the state dict beside the learned weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.core.errors import ZslbenchError, named
from zslbench.models.losses import embedding_loss

ESZSL_GRID = tuple(10.0**k for k in range(-3, 4))  # both regularisers, relative to their matrix's mean eigenvalue
ESZSL_VALIDATION_SHARE = 0.2  # of the source classes, held out to choose the regularisers
ESZSL_VALIDATION_VIDEOS = 20_000  # at most, so the search stays seconds at Kinetics size
CHUNK = 65_536  # rows per Gram-matrix block: bounded memory at any dataset size
DEFAULT_EPOCHS = 30  # of SGD methods, unless --epochs
MIN_STEPS = 2000  # in all, so that a small features file still converges


@dataclass(frozen=True)
class FeatureInput:
    """What a feature method's shape depends on, known once the features and classes are: given to
    builders of kind `features` as `features=`."""

    in_dim: int
    n_classes: int
    loss: str = "mse"  # the protocol's training loss, for methods that regress class vectors


class FeatureMethod(nn.Module):
    """fit on source features (by `loss` and SGD, or `fit_closed_form`), then `forward` -> unit vectors."""

    closed_form = False
    own_loss: str | None = None  # the method's own objective; None: the protocol's loss (train.loss)

    def __init__(self, features: FeatureInput) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(features.in_dim))
        self.register_buffer("scale", torch.ones(features.in_dim))

    def prepare(self, features: torch.Tensor, class_vectors: torch.Tensor) -> None:
        """Take the source statistics; a dimension constant on the source (a dead ReLU) stays unscaled."""
        self.mean.copy_(features.mean(dim=0))
        std = features.std(dim=0)
        self.scale.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        """features [N, in_dim] -> (features - source mean) / source std, as `prepare` took them."""
        return (features - self.mean) / self.scale

    def project(self, standardised: torch.Tensor) -> torch.Tensor:
        """standardised features [N, in_dim] -> unnormalised embeddings [N, embed_dim]; each method defines it."""
        raise NotImplementedError

    def loss(self, standardised: torch.Tensor, labels: torch.Tensor, class_vectors: torch.Tensor) -> torch.Tensor:
        """The 0-d training loss of standardised [B, in_dim], labels [B] int64 and class vectors [C, D]."""
        raise NotImplementedError

    def fit_closed_form(
        self, features: torch.Tensor, labels: torch.Tensor, class_vectors: torch.Tensor, seed: int
    ) -> dict[str, Any]:
        """Fit without SGD (methods with `closed_form`); returns what was chosen (e.g. regularisers), for the record."""
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Raw features [N, in_dim] -> unit embeddings [N, embed_dim], which the evaluator ranks classes by."""
        return F.normalize(self.project(self.standardise(features)), dim=-1)


class LinearHead(FeatureMethod):
    """The head of the paper's model (dropout, linear, L2 norm) on frozen features: `frozen_r2plus1d`
    trained from a features file. Parameter names match `ZeroShotVideoModel`'s head."""

    def __init__(self, features: FeatureInput, embed_dim: int, dropout: float) -> None:
        super().__init__(features)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features.in_dim, embed_dim)
        self.loss_kind = features.loss

    def project(self, standardised: torch.Tensor) -> torch.Tensor:
        """Dropout, then the linear map into the class-embedding space (the paper's head, Sec. 3.2)."""
        return self.fc(self.dropout(standardised))

    def loss(self, standardised, labels, class_vectors):
        """The protocol's loss (`features.loss`, e.g. mse) between unit projections and class vectors."""
        return embedding_loss(F.normalize(self.project(standardised), dim=-1), labels, class_vectors, self.loss_kind)


class DeViSE(FeatureMethod):
    """Frome et al. 2013: a linear map into the class-embedding space trained with a hinge rank loss,
    sum over wrong classes j of max(0, margin - s(true) + s(j)), s = (M x) . v."""

    own_loss = "hinge_rank"

    def __init__(self, features: FeatureInput, embed_dim: int, margin: float) -> None:
        super().__init__(features)
        self.map = nn.Linear(features.in_dim, embed_dim, bias=False)
        self.margin = margin

    def project(self, standardised: torch.Tensor) -> torch.Tensor:
        """The linear map M x into the class-embedding space (no bias)."""
        return self.map(standardised)

    def loss(self, standardised, labels, class_vectors):
        """Frome et al.'s hinge rank loss: sum over wrong j of max(0, margin - s(true) + s(j)), batch mean."""
        scores = self.map(standardised) @ class_vectors.T
        true = scores.gather(1, labels[:, None])
        hinge = (self.margin - true + scores).clamp_min(0).scatter(1, labels[:, None], 0.0)
        return hinge.sum(dim=1).mean()


class ConSE(FeatureMethod):
    """Norouzi et al. 2014: a softmax classifier over the source classes; a video's embedding is the
    mean of its top-T source class vectors weighted by their probabilities."""

    own_loss = "cross_entropy"  # over the source classes, not against their vectors

    def __init__(self, features: FeatureInput, embed_dim: int, top_t: int) -> None:
        super().__init__(features)
        if top_t < 1:
            raise ZslbenchError(f"conse option top_t={top_t} must be at least 1", "the paper uses T=10")
        self.classifier = nn.Linear(features.in_dim, features.n_classes)
        self.register_buffer("class_vectors", torch.zeros(features.n_classes, embed_dim))
        self.top_t = min(top_t, features.n_classes)

    def prepare(self, features, class_vectors):
        """Take the source statistics and keep the source class vectors [C, D] that `project` mixes."""
        super().prepare(features, class_vectors)
        self.class_vectors.copy_(class_vectors)

    def project(self, standardised: torch.Tensor) -> torch.Tensor:
        """The probability-weighted sum of the top-T source class vectors (Norouzi et al. 2014), [N, D]."""
        top = self.classifier(standardised).softmax(dim=-1).topk(self.top_t, dim=-1)
        return (top.values[..., None] * self.class_vectors[top.indices]).sum(dim=1)

    def loss(self, standardised, labels, class_vectors):
        """Cross-entropy of the softmax classifier over the source classes (the class vectors are not used)."""
        return F.cross_entropy(self.classifier(standardised), labels)


class ESZSL(FeatureMethod):
    """Romera-Paredes & Torr 2015: V = (X Xt + g I)^-1 X Y St (S St + l I)^-1, Y in {-1, 1}.

    `gamma` and `lam` are in units of the mean eigenvalue of X Xt and S St, so one grid fits any
    dataset size; None searches ESZSL_GRID on held-out source classes, then refits on all of them.
    One eigendecomposition per side makes the whole grid a few small matrix products.
    """

    closed_form = True
    own_loss = "eszsl_closed_form"

    def __init__(self, features: FeatureInput, embed_dim: int, gamma: float | None, lam: float | None) -> None:
        super().__init__(features)
        for key, value in (("gamma", gamma), ("lam", lam)):
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ZslbenchError(
                    f"eszsl option {key}={value!r} must be a positive number", f"or {key}=null to search"
                )
        self.register_buffer("V", torch.zeros(features.in_dim, embed_dim))
        self.gamma, self.lam = gamma, lam

    def project(self, standardised: torch.Tensor) -> torch.Tensor:
        """standardised [N, in_dim] @ V [in_dim, embed_dim]."""
        return standardised @ self.V

    def fit_closed_form(self, features, labels, class_vectors, seed):
        """Solve V in closed form (Romera-Paredes & Torr 2015) on all source classes.

        A regulariser left None is first chosen on held-out source classes (ESZSL_GRID); returns the
        gamma and lam used and, when searched, the validation grid."""
        n_classes = class_vectors.shape[0]
        held_out = _held_out_classes(n_classes, seed)
        report: dict[str, Any] = {}
        gamma, lam = self.gamma, self.lam
        stats = _class_statistics(self, features, labels, n_classes, held_out)
        if (gamma is None or lam is None) and held_out.any():
            gamma, lam, report["validation"] = self._search(features, labels, class_vectors, held_out, stats, seed)
        gamma, lam = (1.0 if gamma is None else gamma), (1.0 if lam is None else lam)
        gram = stats["gram_train"] + stats["gram_held_out"]
        self.V.copy_(_solve(gram, stats["sums"], class_vectors.double(), gamma, lam).float())
        return {**report, "gamma": gamma, "lam": lam}

    def _search(self, features, labels, class_vectors, held_out, stats, seed):
        """Accuracy among the held-out classes for every (gamma, lam); the first best wins."""
        train = ~held_out
        vectors = class_vectors.double()
        rows = torch.nonzero(held_out[labels]).squeeze(1)
        if len(rows) > ESZSL_VALIDATION_VIDEOS:
            generator = torch.Generator().manual_seed(seed)
            rows = rows[torch.randperm(len(rows), generator=generator)[:ESZSL_VALIDATION_VIDEOS]]
        remap = torch.cumsum(held_out.long(), 0) - 1
        truth = remap[labels[rows]]
        x_val = self.standardise(features[rows]).double()
        sums = stats["sums"][:, train]
        lam_eig, q = torch.linalg.eigh(stats["gram_train"])
        s_train = vectors[train].T  # [a, z]
        mu, p = torch.linalg.eigh(s_train @ s_train.T)
        xy = 2 * sums - sums.sum(dim=1, keepdim=True)  # X Y with Y = +1 for the label, -1 elsewhere
        core = q.T @ xy @ s_train.T @ p
        projected, targets = x_val @ q, p.T @ vectors[held_out].T
        scale_x, scale_s = lam_eig.mean().clamp_min(1e-12), mu.mean().clamp_min(1e-12)
        grid = []
        for gamma in ESZSL_GRID:
            for lam in ESZSL_GRID:
                weights = core / ((lam_eig + gamma * scale_x)[:, None] * (mu + lam * scale_s)[None, :])
                accuracy = ((projected @ (weights @ targets)).argmax(dim=1) == truth).double().mean().item()
                grid.append({"gamma": gamma, "lam": lam, "top1": round(100 * accuracy, 3)})
        best = max(grid, key=lambda row: row["top1"])
        summary = {"held_out_classes": int(held_out.sum()), "videos": len(rows), "best_top1": best["top1"]}
        return best["gamma"], best["lam"], summary


def _held_out_classes(n_classes: int, seed: int) -> torch.Tensor:
    """A seeded ESZSL_VALIDATION_SHARE of the classes (none below 5 classes: nothing left to learn from)."""
    mask = torch.zeros(n_classes, dtype=torch.bool)
    count = round(ESZSL_VALIDATION_SHARE * n_classes) if n_classes >= 5 else 0
    if count:
        mask[torch.randperm(n_classes, generator=torch.Generator().manual_seed(seed))[:count]] = True
    return mask


def _class_statistics(method, features, labels, n_classes, held_out) -> dict[str, torch.Tensor]:
    """Gram matrices (training / held-out classes' videos) and per-class feature sums, in float64,
    accumulated over blocks of float32 rows."""
    dim = features.shape[1]
    gram = {key: torch.zeros(dim, dim, dtype=torch.float64) for key in ("gram_train", "gram_held_out")}
    sums = torch.zeros(dim, n_classes, dtype=torch.float64)
    for start in range(0, len(features), CHUNK):
        block = method.standardise(features[start : start + CHUNK])
        block_labels = labels[start : start + CHUNK]
        mask = held_out[block_labels]
        gram["gram_held_out"] += (block[mask].T @ block[mask]).double()
        gram["gram_train"] += (block[~mask].T @ block[~mask]).double()
        sums.index_add_(1, block_labels, block.T.double())
    return {**gram, "sums": sums}


def _solve(gram, sums, class_vectors, gamma: float, lam: float) -> torch.Tensor:
    """The closed form on all classes, regularisers in relative units."""
    dim, embed = gram.shape[0], class_vectors.shape[1]
    s = class_vectors.T  # [a, z]
    s_gram = s @ s.T
    left = gram + gamma * (torch.trace(gram) / dim).clamp_min(1e-12) * torch.eye(dim, dtype=gram.dtype)
    right = s_gram + lam * (torch.trace(s_gram) / embed).clamp_min(1e-12) * torch.eye(embed, dtype=gram.dtype)
    xy = 2 * sums - sums.sum(dim=1, keepdim=True)
    return torch.linalg.solve(right, torch.linalg.solve(left, xy @ s.T).T).T  # right is symmetric


def fit_method(
    method: FeatureMethod,
    features: torch.Tensor,
    labels: torch.Tensor,
    class_vectors: torch.Tensor,
    settings: dict[str, Any],
    progress=None,
) -> dict[str, Any]:
    """Fit on source features [N, F] with class indices [N] into `class_vectors` [Z, D].

    Gradient methods: Adam over seeded shuffles with `settings` batch_size, lr and epochs (None:
    DEFAULT_EPOCHS or enough for MIN_STEPS); a non-finite loss stops with an error.
    """
    method.prepare(features, class_vectors)
    if method.closed_form:
        return method.fit_closed_form(features, labels, class_vectors, settings["seed"])
    generator = torch.Generator().manual_seed(settings["seed"])
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=settings["lr"])
    batch = settings["batch_size"]
    steps_per_epoch = math.ceil(len(features) / batch)
    epochs = settings["epochs"] or max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
    method.train()
    loss = torch.tensor(float("nan"))
    for epoch in range(epochs):
        order = torch.randperm(len(features), generator=generator)
        for step in range(steps_per_epoch):
            rows = order[step * batch : (step + 1) * batch]
            loss = method.loss(method.standardise(features[rows]), labels[rows], class_vectors)
            if not torch.isfinite(loss):
                raise ZslbenchError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; nothing was saved",
                    f"lower the learning rate ({named('--lr', 'lr')})",
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if progress:
                progress(epoch, step, steps_per_epoch, len(rows), loss.item())
    method.eval()
    return {"epochs": epochs, "steps": epochs * steps_per_epoch, "last_loss": float(loss.detach())}
