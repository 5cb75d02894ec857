package postgres

// CatchUpSlack is catchUpSlack, for the tests of package postgres_test.
const CatchUpSlack = catchUpSlack
