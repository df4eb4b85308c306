package http

// FreshFor is how long a cached file's last check holds (freshFor).
const FreshFor = freshFor
