package store

// Hooks for the external tests (package store_test).
var (
	MigratePostgres    = migratePostgres
	PostgresMigrations = postgresMigrations
)
