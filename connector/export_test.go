package connector

// EdgeSilent is edgeSilent, for the table in slot_test.go.
var EdgeSilent = edgeSilent
