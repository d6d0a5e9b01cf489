"""Recommender-system jobs: evaluation harness, models, recommendations, rating histograms, taste clusters.

Pure computation (split, metrics, models, explain) works on numpy arrays and scipy sparse matrices;
the job modules (evaluate, recommend, predict, cluster) read with COPY and write one transaction each.
See README.md in this folder for the protocol and the metric definitions.
"""
