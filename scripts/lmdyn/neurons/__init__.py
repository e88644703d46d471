"""Family 5, token neurons: logit lens, activation patching, neuron-token congruence."""
