"""Local services (Kafka, MinIO) that the project builds and starts itself."""
