"""Reference aggregate MDP from PersuasionForGood (independent of the project): the
anchor for trainer speed and policy quality. State = (turn, last user reply category);
action = persuader strategy (talk track); transitions = aggregated next-reply frequencies
with back-off (stage,last,action) -> (last,action) -> (action) for cells under K dialogues;
episode ends with reward 1 on agree/commit, 0 on refuse, or at T turns.
Two compliance rules mask actions. Exposes: build(), value_iteration(), evaluate()."""
import csv, collections, os, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("P4G_DIR", os.path.join(HERE, "..", "..", "..", "data", "persuasionforgood"))
T, K = 10, 5
STAY = 0.85   # per-turn probability that the user stays engaged (disengagement hazard 0.15)
STRATS = ['logical-appeal','emotion-appeal','credibility-appeal','foot-in-the-door','self-modeling',
          'personal-story','donation-information','source-related-inquiry','task-related-inquiry',
          'personal-related-inquiry']
ASK = {'proposition-of-donation','ask-donation-amount','ask-donate-more','confirm-donation','ask-not-donate-reason'}
REPLIES = ['agree/commit','refuse','objection','question','positive','neutral','answer','social/ack','other','none']
LASTS = ['start'] + REPLIES

def reply_cat(labels):
    s = set(labels)
    if s & {'agree-donation','provide-donation-amount','confirm-donation'}: return 'agree/commit'
    if s & {'disagree-donation','disagree-donation-more'}: return 'refuse'
    if 'negative-reaction-to-donation' in s: return 'objection'
    if s & {'ask-org-info','ask-donation-procedure','ask-persuader-donation-intention','task-related-inquiry','personal-related-inquiry'}: return 'question'
    if 'positive-reaction-to-donation' in s: return 'positive'
    if 'neutral-reaction-to-donation' in s: return 'neutral'
    if s & {'positive-to-inquiry','negative-to-inquiry','neutral-to-inquiry'}: return 'answer'
    if s & {'greeting','closing','thank','you-are-welcome','acknowledgement'}: return 'social/ack'
    return 'other'

def action_of(labels):
    for l in labels:
        if l in STRATS: return l
    for l in labels:
        if l in ASK: return 'ask-' + ('donation' if l == 'proposition-of-donation' else l.replace('ask-', ''))
    return 'non-strategy'

def stage(t): return 0 if t <= 2 else (1 if t <= 6 else 2)

def build():
    rows = list(csv.DictReader(open(os.path.join(DATA, 'annotated_300_dialog.csv'))))
    dlg = collections.OrderedDict()
    for r in rows: dlg.setdefault(r['B2'], []).append(r)
    cells = collections.defaultdict(lambda: [collections.Counter(), set()])
    actions_seen = collections.Counter()
    behaviour = collections.defaultdict(collections.Counter)
    for did, rs in dlg.items():
        turns = collections.OrderedDict()
        for r in rs:
            turns.setdefault(int(r['Turn']), {'0': [], '1': []})[r['B4']].append(r['er_label_1'] if r['B4'] == '0' else r['ee_label_1'])
        last = 'start'
        for t in sorted(turns):
            er, ee = turns[t]['0'], turns[t]['1']
            if er:
                a = action_of(er); nxt = reply_cat(ee) if ee else 'none'
                actions_seen[a] += 1
                behaviour[(min(t, T - 1), last)][a] += 1
                for key in [(stage(t), last, a), (None, last, a), (None, None, a)]:
                    cells[key][0][nxt] += 1; cells[key][1].add(did)
                last = nxt                      # a silent persuadee makes the next state 'none'
            elif ee:
                last = reply_cat(ee)
    actions = sorted(actions_seen)
    A, L, R = len(actions), len(LASTS), len(REPLIES)
    P = np.zeros((T, L, A, R))
    for t in range(T):
        for li, last in enumerate(LASTS):
            for ai, a in enumerate(actions):
                for key in [(stage(t), last, a), (None, last, a), (None, None, a)]:
                    c = cells.get(key)
                    if c and len(c[1]) >= K:
                        tot = sum(c[0].values())
                        P[t, li, ai] = [c[0][r] / tot for r in REPLIES]
                        break
    mask = P.sum(-1) > 0.5    # no publishable data for the cell, even after back-off: unavailable
    for ai, a in enumerate(actions):
        if a.startswith('ask-'):
            mask[:2, :, ai] = False                       # rule: no donation ask before rapport (turns 0-1)
            mask[:, LASTS.index('objection'), ai] = False  # rule: never ask right after an objection
        if a == 'ask-confirm-donation':
            mask[:, :, ai] = False   # rule: never confirm a donation the user has not agreed to; agreement
                                     # ends the episode, so this track is never allowed here. (The logs show
                                     # it only after agreement: its statistics would leak the outcome.)
    beh = np.zeros((T, L, A))
    for (t, last), cnt in behaviour.items():
        for a, n in cnt.items(): beh[t, LASTS.index(last), actions.index(a)] += n
    return dict(actions=actions, P=P, mask=mask, beh=beh)

def step_reward_done(reply):
    if reply == 'agree/commit': return 1.0, True
    if reply == 'refuse': return 0.0, True
    return 0.0, False

def value_iteration(m):
    P, mask = m['P'], m['mask']
    L, A = P.shape[1], P.shape[2]
    V = np.zeros((T + 1, L)); pi = np.zeros((T, L), int)
    for t in reversed(range(T)):
        for li in range(L):
            q = np.full(A, -np.inf)
            for ai in range(A):
                if not mask[t, li, ai]: continue
                v = 0.0
                for ri, r in enumerate(REPLIES):
                    p = P[t, li, ai, ri]
                    if p == 0: continue
                    rew, done = step_reward_done(r)
                    v += p * (rew + (0 if done else STAY * V[t + 1, LASTS.index(r)]))
                q[ai] = v
            pi[t, li] = int(np.argmax(q)); V[t, li] = q.max()
    return V[0, 0], pi

def policy_value(m, probs):
    """Exact value of a stochastic policy probs[t, l, a] (rows over allowed actions)."""
    P = m['P']; L = P.shape[1]
    V = np.zeros((T + 1, L))
    for t in reversed(range(T)):
        for li in range(L):
            v = 0.0
            for ai in np.nonzero(probs[t, li])[0]:
                for ri, r in enumerate(REPLIES):
                    p = P[t, li, ai, ri]
                    if p == 0: continue
                    rew, done = step_reward_done(r)
                    v += probs[t, li, ai] * p * (rew + (0 if done else STAY * V[t + 1, LASTS.index(r)]))
            V[t, li] = v
    return V[0, 0]

def baselines(m):
    mask = m['mask']
    uni = mask / mask.sum(-1, keepdims=True)
    beh = m['beh'] * mask
    s = beh.sum(-1, keepdims=True)
    beh = np.where(s > 0, beh / np.maximum(s, 1e-12), uni)
    best_single = 0.0
    for ai in range(mask.shape[2]):
        pr = np.where(mask[..., ai:ai + 1], np.eye(mask.shape[2])[ai], uni)
        best_single = max(best_single, policy_value(m, pr))
    return dict(random=policy_value(m, uni), behaviour=policy_value(m, beh), best_single=best_single)

if __name__ == "__main__":
    m = build()
    v, _ = value_iteration(m)
    print("actions", len(m['actions']), "optimum", round(v, 4), {k: round(x, 4) for k, x in baselines(m).items()})
