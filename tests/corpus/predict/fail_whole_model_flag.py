# expect: fail: did not restore each submodule's own mode
def predict(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        p = model(x)
    model.train(was_training)
    return p
