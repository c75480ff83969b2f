"""Dataset analysis (Sec. 3.1, App. A.1–A.2, Fig. 2, Tables 3–16) and its relation to FSD (Sec. 5.2).

Entry points:
    analyze_data(config, cache_dir, adapters) -> CorpusAnalysis   registered domains, end to end
    analyze_documents(config, documents, embedder, ...)            documents already in memory
    write_corpus_analysis(result, out)                             JSON, CSV, Markdown, PNG
    CorpusAnalysis.to_json() / CorpusAnalysis.from_json(text)      for the study store
"""

from __future__ import annotations

from adaptermix.analysis.corpus.documents import domain_documents, sample_documents
from adaptermix.analysis.corpus.embeddings import MiniLMEmbedder, cached_embeddings
from adaptermix.analysis.corpus.lengths import LengthStats, length_stats
from adaptermix.analysis.corpus.relation import SimilarityFsdRelation, similarity_fsd_relation
from adaptermix.analysis.corpus.result import CorpusAnalysis, CorpusConfig, analysis_key
from adaptermix.analysis.corpus.run import analyze_data, analyze_documents, read_adapter_fsd
from adaptermix.analysis.corpus.similarity import centroid_similarity
from adaptermix.analysis.corpus.topics import DomainTopics, Topic, TopicMap, fit_topics, topic_map
from adaptermix.analysis.corpus.writer import write_corpus_analysis

__all__ = [
    "CorpusAnalysis", "CorpusConfig", "DomainTopics", "LengthStats", "MiniLMEmbedder", "SimilarityFsdRelation",
    "Topic", "TopicMap", "analysis_key", "analyze_data", "analyze_documents", "cached_embeddings",
    "centroid_similarity", "domain_documents", "fit_topics", "length_stats", "read_adapter_fsd", "sample_documents",
    "similarity_fsd_relation", "topic_map", "write_corpus_analysis",
]
