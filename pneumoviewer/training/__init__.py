"""Training: tf.data pipeline, architectures, losses/metrics, train loop (imports TensorFlow)."""
