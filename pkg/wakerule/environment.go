package wakerule

// Environment says which of a Compiler's two CEL environments checks an
// expression, as Kubernetes does for the CEL in its own API.
type Environment int

const (
	// NewExpressions checks an expression being written, at admission: it
	// has only the libraries and options of the compatibility version, so
	// that a server rolled back to that version still compiles every rule
	// it stores.
	NewExpressions Environment = iota
	// StoredExpressions checks an expression already stored: it has every
	// library and option of this server, so that a rule written by a newer
	// server, or before the compatibility version was lowered, still runs.
	// Rules run in it.
	StoredExpressions
)

func (e Environment) String() string {
	if e == StoredExpressions {
		return "StoredExpressions"
	}
	return "NewExpressions"
}

// Check parses, type-checks and cost-checks one rule in the environment env,
// without building its program: admission checks rules with it.
//
// # Errors
//
// An *Error says what is wrong with the expression, as Compile does.
func (c *Compiler) Check(kind Kind, expression string, env Environment) error {
	celEnv := c.newEnv
	if env == StoredExpressions {
		celEnv = c.storedEnv
	}
	_, _, err := check(celEnv, kind, expression)
	return err
}
