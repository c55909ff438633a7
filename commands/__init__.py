"""The write side: commands, their handlers, and the event store they append to."""
