"""Analysis of results: error metrics, distributions, radial distribution functions."""
