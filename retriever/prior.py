"""The task-type prior: which kind of API (the catalog's `domain`) a request asks for,
predicted from its embedding by a classifier trained on the tuning pairs.

The domain vote (`fusion.domain_shares`) infers the kind of API from what the search found;
when the top hits are of the wrong kind, so is the vote. The prior is a second opinion that
does not depend on the hits: a multinomial logistic regression from the request's
embedding to the gold API's domain, trained on the same (request, API) pairs as the tuned
embedder and saved beside it (`toolroute-domain-prior.npz`). Search adds
`prior_weight * P(domain | request)` to each candidate of that domain.

Saved as plain arrays (numpy's npz, loaded without pickle).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

# Embeddings, as retriever.embedder makes them (not imported: the embedder loads this module).
Vectors = npt.NDArray[np.float32]

logger = logging.getLogger("toolroute.retriever")

PRIOR_FILE = "toolroute-domain-prior.npz"
# Inverse regularisation strength, chosen by cross-validation on the dev split
# (scripts/dev_cv.py); L2-normalised 384-d inputs.
DEFAULT_C = 8.0


@dataclass(frozen=True, slots=True)
class DomainPrior:
    classes: tuple[str, ...]  # domain names
    coef: npt.NDArray[np.float64]  # (classes, dim)
    intercept: npt.NDArray[np.float64]  # (classes,)

    def probabilities(self, vector: Vectors) -> dict[str, float]:
        logits = self.coef @ np.asarray(vector, dtype=np.float64).reshape(-1) + self.intercept
        logits -= logits.max()
        weights = np.exp(logits)
        weights /= weights.sum()
        return dict(zip(self.classes, weights.tolist(), strict=True))

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(
                handle, classes=np.array(self.classes), coef=self.coef, intercept=self.intercept
            )

    @classmethod
    def load(cls, path: Path) -> DomainPrior | None:
        """The prior saved at `path`; None (logged) when it is missing or unreadable."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                classes = tuple(str(c) for c in data["classes"])
                coef = np.asarray(data["coef"], dtype=np.float64)
                intercept = np.asarray(data["intercept"], dtype=np.float64)
        except (OSError, KeyError, ValueError) as exc:
            logger.warning("ignoring the domain prior at %s: %s", path, exc)
            return None
        if coef.ndim != 2 or coef.shape[0] != len(classes) or intercept.shape != (len(classes),):
            logger.warning("ignoring the domain prior at %s: inconsistent shapes", path)
            return None
        return cls(classes, coef, intercept)


def fit_domain_prior(
    vectors: Vectors, domains: list[str], c: float = DEFAULT_C
) -> DomainPrior | None:
    """A classifier of `domains` from `vectors`; None when there are fewer than two."""
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(domains))
    if len(classes) < 2:
        return None
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(np.asarray(vectors, dtype=np.float64), domains)
    fitted = tuple(str(name) for name in model.classes_)
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if len(fitted) == 2:  # sklearn's binary form: one row, for the second class
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return DomainPrior(fitted, coef, intercept)
