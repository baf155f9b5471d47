"""BM25 over the catalog with rank-bm25's Okapi scores, updated one document at a time.

rank-bm25 computes its statistics once in the constructor and scores a query by walking
every document for every term. `IncrementalBM25` keeps an inverted index instead: for each
term, the documents that contain it. A query then costs what its terms occur in, and adding
or removing a document costs what that document contains, whatever the corpus size (with
100,000 APIs, rebuilding every posting list after each change took seconds).

The idf (`BM25Okapi._calc_idf`, with its epsilon floor over the average idf) and the term
formula are rank-bm25's; tests check the scores equal `BM25Okapi.get_scores` exactly. The
corpus-wide parts (the idf of every term, the length normalisation of every document) are
recomputed in numpy at the first query after a change, so a bulk import pays for them once.

Removing a document moves the last one into its place (`remove` returns which moved), so
that no other position shifts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]

# rank-bm25's BM25Okapi defaults.
K1 = 1.5
B = 0.75
EPSILON = 0.25


class IncrementalBM25:
    """Okapi BM25 whose corpus can change one document at a time."""

    def __init__(self, corpus: list[list[str]] | None = None) -> None:
        self._term_ids: dict[str, int] = {}
        self._df: list[int] = []  # by term id: how many documents contain it
        self._postings: list[dict[int, int]] = []  # by term id: position -> frequency
        self._doc_terms: list[dict[int, int]] = []  # by position: term id -> frequency
        self._doc_len: list[int] = []
        self._total_len = 0
        self._live_terms = 0  # terms with df > 0 (rank-bm25's vocabulary)
        # Derived, rebuilt lazily: per-term posting arrays, the idf, the length norms.
        self._posting_arrays: dict[int, tuple[_Ints, Scores]] = {}
        self._idf: Scores = np.zeros(0)
        self._length_norm: Scores = np.zeros(0)
        self._stale = True
        for document in corpus or []:
            self.add(document)

    def __len__(self) -> int:
        return len(self._doc_len)

    # ----------------------------------------------------------------- updates

    def add(self, document: list[str]) -> int:
        """Append a document; returns its position."""
        position = len(self._doc_len)
        frequencies: dict[int, int] = {}
        for word in document:
            term = self._term_ids.get(word)
            if term is None:
                term = self._term_ids[word] = len(self._df)
                self._df.append(0)
                self._postings.append({})
            frequencies[term] = frequencies.get(term, 0) + 1
        for term, frequency in frequencies.items():
            if not self._df[term]:
                self._live_terms += 1
            self._df[term] += 1
            self._postings[term][position] = frequency
            self._posting_arrays.pop(term, None)
        self._doc_terms.append(frequencies)
        self._doc_len.append(len(document))
        self._total_len += len(document)
        self._stale = True
        return position

    def remove(self, position: int) -> int | None:
        """Remove the document at `position`. The last document moves into its place:
        returns the position it came from, or None when the removed one was the last."""
        for term in self._doc_terms[position]:
            del self._postings[term][position]
            self._df[term] -= 1
            if not self._df[term]:
                self._live_terms -= 1
            self._posting_arrays.pop(term, None)
        self._total_len -= self._doc_len[position]
        last = len(self._doc_len) - 1
        moved = None
        if position != last:
            for term, frequency in self._doc_terms[last].items():
                postings = self._postings[term]
                del postings[last]
                postings[position] = frequency
                self._posting_arrays.pop(term, None)
            self._doc_terms[position] = self._doc_terms[last]
            self._doc_len[position] = self._doc_len[last]
            moved = last
        self._doc_terms.pop()
        self._doc_len.pop()
        self._stale = True
        return moved

    # ----------------------------------------------------------------- scoring

    def get_scores(self, query: list[str]) -> Scores:
        """rank-bm25's Okapi score of every document, computed over postings."""
        if self._stale:
            self._refresh()
        scores = np.zeros(len(self._doc_len))
        for word in query:
            term = self._term_ids.get(word)
            if term is None or not self._df[term]:
                continue
            idf = self._idf[term]
            if not idf:
                continue
            positions, freqs = self._posting_array(term)
            scores[positions] += idf * (freqs * (K1 + 1) / (freqs + self._length_norm[positions]))
        return scores

    def _posting_array(self, term: int) -> tuple[_Ints, Scores]:
        cached = self._posting_arrays.get(term)
        if cached is None:
            postings = self._postings[term]
            cached = (
                np.fromiter(postings.keys(), dtype=np.int64, count=len(postings)),
                np.fromiter(postings.values(), dtype=np.float64, count=len(postings)),
            )
            self._posting_arrays[term] = cached
        return cached

    def _refresh(self) -> None:
        corpus_size = len(self._doc_len)
        df = np.asarray(self._df, dtype=np.float64)
        live = df > 0
        # BM25Okapi._calc_idf: log((N - n + 0.5) / (n + 0.5)); a negative idf (a term in
        # more than half the documents) becomes epsilon times the average idf.
        idf = np.zeros(len(df))
        idf[live] = np.log(corpus_size - df[live] + 0.5) - np.log(df[live] + 0.5)
        average = float(idf[live].sum()) / max(self._live_terms, 1)
        idf[live & (idf < 0)] = EPSILON * average
        self._idf = idf
        average_length = self._total_len / max(corpus_size, 1)
        lengths = np.asarray(self._doc_len, dtype=np.float64)
        self._length_norm = K1 * (1 - B + B * lengths / max(average_length, 1e-9))
        self._stale = False
