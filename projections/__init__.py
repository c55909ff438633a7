"""The read side: projections that build read models from events, and the queries over them."""
