"""BM25 over the catalog with rank-bm25's Okapi statistics, updated in place.

rank-bm25 computes its statistics once in the constructor and scores a query by walking
every document for every term. `IncrementalBM25` keeps the per-term document counts, so that
adding, replacing or removing one doc is cheap, and scores over postings (the documents that
contain a term), so that a query costs what its terms occur in rather than the corpus size.
The idf (`BM25Okapi._calc_idf`, with its epsilon floor) and the term formula are rank-bm25's;
tests check the scores equal `BM25Okapi.get_scores` exactly.

Statistics are refreshed lazily, at the first query after a change, so a bulk import pays
for them once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from rank_bm25 import BM25Okapi

Scores = npt.NDArray[np.float64]
_Postings = dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


class IncrementalBM25(BM25Okapi):  # type: ignore[misc]
    """BM25Okapi whose corpus can change one document at a time."""

    def __init__(self, corpus: list[list[str]]) -> None:
        self._nd: dict[str, int] = {}
        self._total_len = 0
        self._postings: _Postings | None = None
        self._stale = True
        super().__init__(corpus or [[]])
        if not corpus:  # rank-bm25 cannot start empty; start with one empty doc, then drop it
            self.remove(0)

    def _initialize(self, corpus: list[list[str]]) -> dict[str, int]:
        for document in corpus:
            self._append(document)
        return self._nd

    def _calc_idf(self, nd: dict[str, int]) -> None:
        # Called by the base constructor; the real computation is deferred to _refresh.
        self._stale = True

    # ----------------------------------------------------------------- updates

    def add(self, document: list[str]) -> int:
        """Append a document; returns its position."""
        self._append(document)
        return int(self.corpus_size) - 1

    def replace(self, position: int, document: list[str]) -> None:
        self._forget(position)
        frequencies = _counts(document)
        for word in frequencies:
            self._nd[word] = self._nd.get(word, 0) + 1
        self.doc_freqs[position] = frequencies
        self.doc_len[position] = len(document)
        self._total_len += len(document)
        self.corpus_size += 1

    def remove(self, position: int) -> None:
        """Remove the document at `position`; later positions shift down by one."""
        self._forget(position)
        del self.doc_freqs[position]
        del self.doc_len[position]

    def _append(self, document: list[str]) -> None:
        frequencies = _counts(document)
        for word in frequencies:
            self._nd[word] = self._nd.get(word, 0) + 1
        self.doc_freqs.append(frequencies)
        self.doc_len.append(len(document))
        self._total_len += len(document)
        self.corpus_size += 1
        self._stale = True

    def _forget(self, position: int) -> None:
        for word in self.doc_freqs[position]:
            left = self._nd[word] - 1
            if left:
                self._nd[word] = left
            else:
                del self._nd[word]
        self._total_len -= self.doc_len[position]
        self.corpus_size -= 1
        self._stale = True

    # ----------------------------------------------------------------- scoring

    def get_scores(self, query: list[str]) -> Scores:
        """rank-bm25's Okapi score of every document, computed over postings."""
        if self._stale:
            self._refresh()
        scores = np.zeros(self.corpus_size)
        assert self._postings is not None
        for term in query:
            posting = self._postings.get(term)
            idf = self.idf.get(term)
            if posting is None or not idf:
                continue
            positions, freqs = posting
            scores[positions] += idf * (
                freqs * (self.k1 + 1) / (freqs + self._length_norm[positions])
            )
        return scores

    def _refresh(self) -> None:
        self.avgdl = self._total_len / max(self.corpus_size, 1)
        self.idf: dict[str, float] = {}
        if self._nd:
            BM25Okapi._calc_idf(self, self._nd)
        lengths = np.asarray(self.doc_len, dtype=np.float64)
        self._length_norm = self.k1 * (1 - self.b + self.b * lengths / max(self.avgdl, 1e-9))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for position, frequencies in enumerate(self.doc_freqs):
            for word, freq in frequencies.items():
                entry = postings.setdefault(word, ([], []))
                entry[0].append(position)
                entry[1].append(freq)
        self._postings = {
            word: (np.asarray(p, dtype=np.int64), np.asarray(f, dtype=np.float64))
            for word, (p, f) in postings.items()
        }
        self._stale = False


def _counts(document: list[str]) -> dict[str, int]:
    frequencies: dict[str, int] = {}
    for word in document:
        frequencies[word] = frequencies.get(word, 0) + 1
    return frequencies
