"""Family 4, layer geometry: norms, PCA and the layer classifier."""
