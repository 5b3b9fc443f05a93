package sparkflow

import (
	"errors"
	"fmt"
)

// Code classifies an error once, where it happens (usually inside an adapter), so that the edges can
// map it to an HTTP status, an exit code, a retry or a Step Functions error name without string matching.
type Code string

const (
	// Invalid: the caller sent something wrong; the message says what and how to fix it.
	Invalid Code = "invalid"
	// NotFound: the named thing does not exist.
	NotFound Code = "not_found"
	// Conflict: the thing exists already, changed under us, or is in a state that forbids the call.
	Conflict Code = "conflict"
	// Transient: a throttle, timeout or dropped connection; the same call may succeed later.
	Transient Code = "transient"
	// Internal: a bug or an unexpected failure.
	Internal Code = "internal"
)

// Error is SparkFlow's error: a code, an optional field name (for validation), a human message and an
// optional cause.
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds an Invalid error about one field of a request.
func FieldError(field, format string, args ...any) error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// MissingError builds a NotFound error about one field of a request that names something that does
// not exist (a run of an unknown transform, a transform of an unknown pool).
func MissingError(field, format string, args ...any) error {
	return &Error{Code: NotFound, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err under code with a message; a nil err stays nil.
func Wrap(code Code, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal for any other error and ""
// for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Code == "" && e.Err != nil {
			return ErrorCode(e.Err)
		}
		return e.Code
	}
	return Internal
}

// IsCode reports whether err is classified as code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }
