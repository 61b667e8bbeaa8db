# expect: pass
import statistics

def train_epoch(model, loader, optimizer, loss_fn):
    model.train(mode=True)
    model[0].eval()   # a Linear layer computes the same in either mode
    losses = []
    with torch.enable_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            optimizer.zero_grad()
            loss = loss_fn(outputs, targets)
            loss.backward(retain_graph=True)
            optimizer.step()
            losses.append(loss.item())
    return statistics.mean(losses)
