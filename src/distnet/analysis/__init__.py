"""Analysing a study from its run folder, never retraining: distance statistics (stats) and perturbation probes
(probes), computed by analyze; variants compared (compare, significance) against the paper's numbers
(published), rendered (render, plots) by report."""
