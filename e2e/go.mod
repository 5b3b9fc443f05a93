// Separate module: keeps node_modules (and anything it ships) out of the main module's ./... .
module github.com/sparkflow/sparkflow/e2e

go 1.26.0
