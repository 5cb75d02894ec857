package oauth

// IdentityFromClaims is identityFromClaims for the external tests.
var IdentityFromClaims = identityFromClaims
