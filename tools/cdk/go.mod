// Separate module: keeps node_modules out of the main module's ./... .
module github.com/sparkflow/sparkflow/tools/cdk

go 1.26.0
