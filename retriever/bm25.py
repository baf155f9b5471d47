"""BM25 over the catalog with rank-bm25's Okapi scoring, updated in place.

rank-bm25 computes its statistics once in the constructor. `IncrementalBM25` keeps the
per-term document counts so that adding, replacing or removing one doc updates the
statistics without re-reading the corpus; scoring is rank-bm25's own `get_scores`.
"""

from __future__ import annotations

from rank_bm25 import BM25Okapi


class IncrementalBM25(BM25Okapi):  # type: ignore[misc]
    """BM25Okapi whose corpus can change one document at a time. Needs >= 1 document."""

    def __init__(self, corpus: list[list[str]]) -> None:
        self._nd: dict[str, int] = {}
        self._total_len = 0
        super().__init__(corpus)

    def _initialize(self, corpus: list[list[str]]) -> dict[str, int]:
        for document in corpus:
            self._append(document)
        self._refresh()
        return self._nd

    def _append(self, document: list[str]) -> None:
        frequencies: dict[str, int] = {}
        for word in document:
            frequencies[word] = frequencies.get(word, 0) + 1
        for word in frequencies:
            self._nd[word] = self._nd.get(word, 0) + 1
        self.doc_freqs.append(frequencies)
        self.doc_len.append(len(document))
        self._total_len += len(document)
        self.corpus_size += 1

    def _forget(self, position: int) -> None:
        for word in self.doc_freqs[position]:
            left = self._nd[word] - 1
            if left:
                self._nd[word] = left
            else:
                del self._nd[word]
        self._total_len -= self.doc_len[position]
        self.corpus_size -= 1

    def _refresh(self) -> None:
        self.avgdl = self._total_len / max(self.corpus_size, 1)
        self.idf = {}
        if self._nd:
            self._calc_idf(self._nd)

    # ----------------------------------------------------------------- updates

    def add(self, document: list[str]) -> int:
        """Append a document; returns its position."""
        self._append(document)
        self._refresh()
        return self.corpus_size - 1

    def replace(self, position: int, document: list[str]) -> None:
        self._forget(position)
        frequencies: dict[str, int] = {}
        for word in document:
            frequencies[word] = frequencies.get(word, 0) + 1
        for word in frequencies:
            self._nd[word] = self._nd.get(word, 0) + 1
        self.doc_freqs[position] = frequencies
        self.doc_len[position] = len(document)
        self._total_len += len(document)
        self.corpus_size += 1
        self._refresh()

    def remove(self, position: int) -> None:
        """Remove the document at `position`; later positions shift down by one."""
        self._forget(position)
        del self.doc_freqs[position]
        del self.doc_len[position]
        self._refresh()
