"""Model bundles, shared preprocessing and the inference engine (TensorFlow imported lazily; no Qt)."""
