# expect: pass
import copy

def predict(model, x):
    # Work on a copy so the caller's model is never touched.
    frozen = copy.deepcopy(model)
    frozen.eval()
    with torch.no_grad():
        return frozen(x)
