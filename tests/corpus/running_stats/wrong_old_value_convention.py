# expect: fail: weighted the old running value by momentum
def update_running_stats(running_mean, running_var, x, momentum=0.1):
    # CS231n (momentum=0.9) and Keras/TensorFlow (0.99) style: momentum weights the old value
    new_mean = momentum * running_mean + (1 - momentum) * x.mean(0)
    new_var = momentum * running_var + (1 - momentum) * x.var(0)
    return new_mean, new_var
