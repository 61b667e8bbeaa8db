# expect: fail: Not answered yet
def saturated_fraction(activations, threshold=0.97):
    """The fraction of entries of `activations` with |t| > threshold, as a Python float."""
    # YOUR CODE HERE
    raise NotImplementedError()
