"""The data stages: corpus, evaluation tokens, unigram distribution, parts of speech, per-token
features, and the micro suite trained here."""
