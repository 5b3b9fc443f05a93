package webui

// What the package's tests reach inside it.
var (
	TickStep      = tickStep
	WriteTimeline = writeTimeline
)
