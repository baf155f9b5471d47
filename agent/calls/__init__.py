"""Right calls: choosing the function, filling its arguments, verifying, declining."""
