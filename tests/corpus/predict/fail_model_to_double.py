# expect: fail: changed the model's 0.weight from torch.float32 to torch.float64
def predict(model, x):
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        out = model.double()(x.double()).to(x.dtype)   # .double() converts the model in place
    for m, flag in saved:
        m.training = flag
    return out
