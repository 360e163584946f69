//! Similarity ranking.
