"""Family 3, embedding anisotropy."""
