"""HTTP/2 (h2c with prior knowledge) and gRPC through the sidecar: one span per stream."""
