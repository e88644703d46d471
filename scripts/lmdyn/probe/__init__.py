"""Family 2, the unigram latent probe."""
