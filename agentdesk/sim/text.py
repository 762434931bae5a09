"""The words of the simulated world: names, companies and what customers and agents write.

Everything here is plain data plus a few cheap helpers. Texts are templates with `{slots}`
filled by `fill()` from a per-conversation context (order number, amount, agent name...), so
a few hundred hand-written lines give a million messages that still read like people wrote
them. Japanese and English are written separately (not translated word by word): Japanese
support mail has its own set phrases (いつもお世話になっております, 恐れ入りますが...).
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

# ----------------------------------------------------------------- people
JA_FAMILY = (
    ("佐藤", "Sato"), ("鈴木", "Suzuki"), ("高橋", "Takahashi"), ("田中", "Tanaka"),
    ("伊藤", "Ito"), ("渡辺", "Watanabe"), ("山本", "Yamamoto"), ("中村", "Nakamura"),
    ("小林", "Kobayashi"), ("加藤", "Kato"), ("吉田", "Yoshida"), ("山田", "Yamada"),
    ("佐々木", "Sasaki"), ("山口", "Yamaguchi"), ("松本", "Matsumoto"), ("井上", "Inoue"),
    ("木村", "Kimura"), ("林", "Hayashi"), ("斎藤", "Saito"), ("清水", "Shimizu"),
    ("山崎", "Yamazaki"), ("森", "Mori"), ("池田", "Ikeda"), ("橋本", "Hashimoto"),
    ("阿部", "Abe"), ("石川", "Ishikawa"), ("前田", "Maeda"), ("藤田", "Fujita"),
    ("小川", "Ogawa"), ("岡田", "Okada"), ("後藤", "Goto"), ("長谷川", "Hasegawa"),
    ("村上", "Murakami"), ("近藤", "Kondo"), ("石井", "Ishii"), ("坂本", "Sakamoto"),
    ("遠藤", "Endo"), ("青木", "Aoki"), ("藤井", "Fujii"), ("西村", "Nishimura"),
)  # fmt: skip
JA_GIVEN = (
    ("花子", "Hanako"), ("太郎", "Taro"), ("陽菜", "Hina"), ("結衣", "Yui"), ("蓮", "Ren"),
    ("湊", "Minato"), ("大翔", "Hiroto"), ("美咲", "Misaki"), ("翔太", "Shota"),
    ("さくら", "Sakura"), ("健一", "Kenichi"), ("直樹", "Naoki"), ("由美", "Yumi"),
    ("恵", "Megumi"), ("拓也", "Takuya"), ("彩", "Aya"), ("誠", "Makoto"), ("愛", "Ai"),
    ("大輔", "Daisuke"), ("真由美", "Mayumi"), ("優子", "Yuko"), ("悠真", "Yuma"),
    ("葵", "Aoi"), ("和也", "Kazuya"), ("智子", "Tomoko"), ("浩二", "Koji"),
    ("明美", "Akemi"), ("隆", "Takashi"), ("千尋", "Chihiro"), ("凛", "Rin"),
)  # fmt: skip
EN_GIVEN = (
    "Tom", "Emma", "Olivia", "Liam", "Noah", "Ava", "Sophia", "James", "Mia", "Lucas",
    "Grace", "Ethan", "Chloe", "Daniel", "Hannah", "Jack", "Ella", "Samuel", "Ruby",
    "Oscar", "Priya", "Arjun", "Maria", "Carlos", "Fatima", "Omar", "Chen", "Wei", "Zoe",
    "Isaac", "Leah", "Nathan", "Megan", "Ryan", "Aisha", "Kevin", "Laura", "Sean", "Nina",
    "Ben",
)  # fmt: skip
EN_FAMILY = (
    "Baker", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Green", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter",
    "Phillips", "Evans", "Turner", "Patel", "Nguyen", "Kim", "O'Brien", "Murphy", "Kowalski",
)  # fmt: skip
JA_MAIL_DOMAINS = ("gmail.com", "yahoo.co.jp", "docomo.ne.jp", "ezweb.ne.jp", "icloud.com",
                   "outlook.jp", "softbank.ne.jp", "nifty.com")  # fmt: skip
EN_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk",
                   "proton.me", "fastmail.com", "aol.com")  # fmt: skip

# Organisations: (name, email domain, language). The first few are the big accounts.
COMPANIES = (
    ("株式会社みどり商事", "midori-shoji.co.jp", "ja"),
    ("Northwind Traders", "northwind-traders.com", "en"),
    ("さくらロジスティクス株式会社", "sakura-logi.co.jp", "ja"),
    ("Bluefin Analytics", "bluefin-analytics.io", "en"),
    ("東都システム開発", "toto-sysdev.co.jp", "ja"),
    ("Harbor & Pine Design", "harborpine.design", "en"),
    ("こもれび保育園", "komorebi-hoiku.jp", "ja"),
    ("Lakeside Dental Group", "lakesidedental.com", "en"),
    ("有限会社たかはし工務店", "takahashi-koumuten.jp", "ja"),
    ("Greenleaf Grocers", "greenleafgrocers.com", "en"),
    ("ひかり会計事務所", "hikari-kaikei.jp", "ja"),
    ("Copperline Media", "copperline.media", "en"),
    ("株式会社はるかぜ", "harukaze.co.jp", "ja"),
    ("Summit Outdoor Co.", "summitoutdoor.co", "en"),
    ("Riverside Veterinary Clinic", "riversidevet.org", "en"),
    ("青葉クリニック", "aoba-clinic.jp", "ja"),
)  # fmt: skip

BRAND = "Kumo Mart"
AGENT_DOMAIN = "kumomart.example"
SUPPORT_ADDRESS = "support@kumomart.example"
BOT_NAME = "Kumo Bot"
GROUPS = (
    ("Support", "Everyday questions: orders, accounts, the app"),
    ("Billing", "Invoices, refunds, payment problems"),
    ("配送・返品 Shipping & Returns", "Deliveries, returns and exchanges"),
    ("Technical Support", "VPN, sign-in, integrations, outages"),
)
AGENTS = (  # (name, email local part, language, role)
    ("田中 美香", "mika.tanaka", "ja", "admin"),
    ("Sarah Connors", "sarah.connors", "en", "admin"),
    ("伊藤 遥", "haruka.ito", "ja", "agent"),
    ("Marcus Webb", "marcus.webb", "en", "agent"),
    ("小林 健太", "kenta.kobayashi", "ja", "agent"),
    ("Priya Raman", "priya.raman", "en", "agent"),
    ("中村 あかり", "akari.nakamura", "ja", "agent"),
    ("Jordan Ellis", "jordan.ellis", "en", "agent"),
    ("渡辺 翔", "sho.watanabe", "ja", "agent"),
    ("Emily Park", "emily.park", "en", "agent"),
    ("松本 紗季", "saki.matsumoto", "ja", "agent"),
    ("Diego Alvarez", "diego.alvarez", "en", "agent"),
)

PRODUCTS_JA = ("ワイヤレスイヤホン KM-200", "電気ケトル 1.2L", "ステンレスボトル 500ml",
               "ノートPCスタンド", "加湿器 ミストS", "USB-C 充電器 65W", "リネンのシーツ セミダブル",
               "ロボット掃除機 Kumo Clean", "ドリップコーヒーセット", "ヨガマット")  # fmt: skip
PRODUCTS_EN = ("KM-200 wireless earbuds", "1.2L electric kettle", "500ml steel bottle",
               "laptop stand", "Mist S humidifier", "65W USB-C charger", "linen sheet set (queen)",
               "Kumo Clean robot vacuum", "pour-over coffee kit", "yoga mat")  # fmt: skip
EMOJI = ("🙏", "😊", "📦", "😢", "👍", "🙇\u200d♀️", "😅", "✨", "💦", "🚚", "😭", "🤔", "👀", "‼️")


@dataclass(frozen=True, slots=True)
class Topic:
    """One kind of problem, in one language, with every line a conversation about it needs."""

    key: str
    group: int  # index into GROUPS
    tags: tuple[str, ...]
    subjects: tuple[str, ...]
    openings: tuple[str, ...]
    replies: tuple[str, ...]  # agent answers
    followups: tuple[str, ...]  # customer's later messages
    notes: tuple[str, ...]  # internal notes
    short: tuple[str, ...]  # SMS / social / chat-sized openings


# ----------------------------------------------------------------- English topics
EN_TOPICS = (
    Topic(
        "order_status",
        2,
        ("order_status", "shipping"),
        (
            "Order #{order} hasn't arrived",
            "Where is my order?",
            "Still waiting on order {order}",
            "Package shows delivered but nothing here",
        ),
        (
            (
                "Hi,\n\nI ordered the {product} on {date} (order #{order}) and it still hasn't shown up. "
                "The tracking page hasn't moved in four days. Can you check what's going on?\n\n"
                "Thanks,\n{first}"
            ),
            (
                "Hello, my order #{order} was supposed to arrive yesterday. Tracking number {tracking} "
                "just says 'in transit'. I need it before the weekend, is there anything you can do?"
            ),
            (
                "Hi there - the tracking for #{order} says delivered at 2:14pm but there is no package at "
                "my door or with the building manager. Could it have gone to the wrong address?"
            ),
        ),
        (
            (
                "Hi {first},\n\nThanks for reaching out, and sorry for the wait. I checked with the "
                "carrier: order #{order} is at the local depot and is scheduled for delivery tomorrow "
                "before 6pm. I've added a note to prioritise it.\n\nBest,\n{agent}"
            ),
            (
                "Hi {first}, I'm sorry about this. The carrier confirmed the package was scanned at the "
                "wrong facility. I've opened a trace ({tracking}) and if it doesn't move within 48 hours "
                "we'll ship a replacement at no cost."
            ),
            (
                "Thanks for your patience {first}. I've reshipped the {product} with express delivery; "
                "the new tracking number is {tracking}. You don't need to return the original if it "
                "turns up - just let us know."
            ),
        ),
        (
            "Any update? It still hasn't moved.",
            "Got it, thank you! I'll keep an eye out.",
            "It arrived this morning, thanks for chasing it!",
            "The carrier website still shows the old status. Should I wait or ask for a refund?",
        ),
        (
            "Carrier says delayed at depot, trace opened.",
            ("Customer is a repeat buyer, OK to reship without waiting for trace."),
            "Address on the order is missing the apt number.",
        ),
        (
            "hey where's my order {order}? 📦",
            "my package still hasn't come...",
            "@kumomart order {order} says delivered but it isn't here 😩",
        ),
    ),
    Topic(
        "refund",
        1,
        ("refund", "billing"),
        (
            "Refund for #{order}",
            "Refund not received yet",
            "Requesting a refund",
            "Charged but order cancelled",
        ),
        (
            (
                "Hello,\n\nI returned the {product} two weeks ago and the return was marked received on "
                "{date}, but I still haven't seen the refund of {amount} on my card. How long does it "
                "usually take?\n\nRegards,\n{first} {last}"
            ),
            (
                "Hi, I cancelled order #{order} within an hour of placing it but my card was still "
                "charged {amount}. Please refund it."
            ),
            (
                "I'd like a refund for the {product}. It stopped charging after three days and "
                "honestly I don't want a replacement."
            ),
        ),
        (
            (
                "Hi {first},\n\nI've issued a refund of {amount} to your original payment method. "
                "Banks usually take 3-5 business days to show it. Your refund reference is R-{order}.\n\n"
                "Kind regards,\n{agent}"
            ),
            (
                "Hi {first}, thanks for flagging this. The charge you see is a pre-authorisation; it "
                "should drop off automatically within 7 days. If it's still there after that, reply "
                "here and I'll chase it with our payments team."
            ),
            (
                "Sorry about the trouble with the {product}, {first}. I've approved the refund without "
                "needing a return - you'll get a confirmation email shortly."
            ),
        ),
        (
            "Still nothing on my statement. Can you send me proof that it was processed?",
            "Perfect, I can see it now. Thanks!",
            "OK thanks, I'll wait a few more days.",
            "Could you refund it to a different card? The old one was cancelled.",
        ),
        (
            "Refund approved under goodwill policy, under $50.",
            ("Payment gateway shows refund settled on our side."),
            "Second refund request this month - checked, legit.",
        ),
        (
            "still waiting for my refund for order {order}",
            "when do I get my money back? 🙄",
            "refund please, the {product} broke",
        ),
    ),
    Topic(
        "password_reset",
        3,
        ("account", "password_reset"),
        (
            "Can't reset my password",
            "Password reset email never arrives",
            "Locked out of account",
            "Reset link expired",
        ),
        (
            (
                "Hi,\n\nI've tried to reset my password three times and the email never arrives. I checked "
                "spam too. My account email is {email}.\n\nThanks,\n{first}"
            ),
            (
                "Every time I click the reset link it says 'this link has expired' even though I click "
                "it straight away. Can you help?"
            ),
            (
                "My account got locked after too many attempts. I need to get in today to download an "
                "invoice."
            ),
        ),
        (
            (
                "Hi {first},\n\nThanks for your patience. I've unlocked your account and sent a fresh reset "
                "link to {email}; it's valid for 30 minutes. If it doesn't show up, please check that "
                "no-reply@kumomart.example isn't blocked.\n\nCheers,\n{agent}"
            ),
            (
                "Hi {first}, some email providers are delaying our messages today. I've sent you a "
                "one-time sign-in code instead: please use it within 10 minutes."
            ),
            (
                "The expired-link problem happens when the link opens in a different browser than the one "
                "you requested it from. Could you try copying the link into the same browser?"
            ),
        ),
        (
            "Still not working. Same error.",
            "That worked, I'm in. Thank you so much!",
            "Got the code, all good now 👍",
            "Which browser should I use? I'm on an iPad.",
        ),
        (
            "Mail logs show the reset email bounced - mailbox full.",
            ("Verified identity via last order number before unlocking."),
            "Known issue with Safari link handling, see INC-2291.",
        ),
        (
            "can't log in, reset email never comes",
            "locked out of my account help",
            "password reset link is broken??",
        ),
    ),
    Topic(
        "vpn",
        3,
        ("vpn", "technical"),
        (
            "VPN keeps disconnecting",
            "Can't connect to Kumo VPN from the office",
            "VPN error 809",
            "VPN slow since update",
        ),
        (
            (
                "Hello,\n\nSince yesterday's update the Kumo Cloud VPN client disconnects every 10-15 "
                "minutes. I'm on Windows 11, client version 4.2.1. It's affecting our whole team at "
                "{company}.\n\nThanks,\n{first} {last}"
            ),
            (
                "Hi, I get 'error 809: the network connection between your computer and the VPN server "
                "could not be established' when connecting from the office. From home it works fine."
            ),
            (
                "Our VPN throughput dropped from ~200 Mbps to about 20 since the update. Any known "
                "issue?"
            ),
        ),
        (
            (
                "Hi {first},\n\nThanks for the details. Error 809 usually means UDP 500/4500 is blocked by "
                "the office firewall. Could you ask your network admin to allow those ports, or switch "
                "the client to TCP mode (Settings > Protocol > TCP 443)?\n\nBest,\n{agent}"
            ),
            (
                "Hi {first}, we've confirmed a bug in client 4.2.1 that drops idle tunnels. Version 4.2.2 "
                "with the fix is rolling out today; you can download it from the admin console now."
            ),
            (
                "Could you send us the client log? It's under Help > Export diagnostics. That will show "
                "us where the connection drops."
            ),
        ),
        (
            "Attached the log. It dropped again at 14:32.",
            "Switching to TCP fixed it, thanks!",
            "Updated to 4.2.2, no drops for two hours so far.",
            "Our admin says the ports are open. Anything else we can try?",
        ),
        (
            "Escalated to network eng, log shows MTU issues.",
            ("Affects 40+ seats at this org, treat as high."),
            "Workaround: TCP 443 mode. Fix in 4.2.2.",
        ),
        (
            "vpn dropping every 10 min since update",
            "VPN error 809 again 😤",
            "is the VPN down right now?",
        ),
    ),
    Topic(
        "invoice",
        1,
        ("invoice", "billing"),
        (
            "Invoice request for {month}",
            "Need a corrected invoice",
            ("Invoice {invoice} wrong company name"),
            "VAT number missing on invoice",
        ),
        (
            (
                "Hello,\n\nCould you send us the invoice for {month}? Our finance team needs it by Friday. "
                "Please address it to {company}.\n\nBest regards,\n{first} {last}"
            ),
            (
                "Hi, invoice {invoice} shows our old address. Can you reissue it with the new one? "
                "Attached is our registration certificate."
            ),
            (
                "We need our VAT number on all invoices going forward, and reissued for the last three "
                "months."
            ),
        ),
        (
            (
                "Hi {first},\n\nPlease find attached invoice {invoice} for {month}. You can also download all "
                "invoices from Billing > Invoices in the admin console.\n\nKind regards,\n{agent}"
            ),
            (
                "Hi {first}, I've updated the billing address and reissued invoice {invoice}. The old one "
                "is voided, so your finance team can discard it."
            ),
            (
                "Done - your VAT number is now on the account and I've regenerated the last three "
                "invoices. They're attached."
            ),
        ),
        (
            "Thanks, received.",
            "The amount on the new one is different - is that expected?",
            "Can you also add our PO number 4500-{order}?",
            "Perfect, thank you for the quick help.",
        ),
        (
            "Finance approved reissue.",
            "PO numbers go in the memo field, not the address.",
            "Customer on annual plan, invoice generated manually.",
        ),
        (
            "need invoice for {month} please",
            "where can I download invoices?",
            "invoice has wrong address",
        ),
    ),
    Topic(
        "return",
        2,
        ("return", "exchange"),
        (
            "Return request #{order}",
            "Wrong size - exchange?",
            "Item arrived damaged",
            "How do I return this?",
        ),
        (
            (
                "Hi,\n\nThe {product} from order #{order} arrived with a cracked lid. I've attached photos. "
                "I'd like a replacement please.\n\n{first}"
            ),
            "Hello, I'd like to return the {product}. It's unopened. What's the process?",
            "I received the wrong colour. I ordered navy and got grey. Can I exchange it?",
        ),
        (
            (
                "Hi {first},\n\nSo sorry it arrived damaged! I've sent a prepaid return label to {email}. "
                "Once it's scanned by the carrier we'll ship the replacement - no need to wait for it to "
                "reach us.\n\nBest,\n{agent}"
            ),
            (
                "Hi {first}, returns are free within 30 days. I've created return RMA-{order}; just print "
                "the label from the email and drop it at any post office."
            ),
            (
                "No problem {first} - I've set up an exchange for navy. The grey one can go back with the "
                "label I just emailed you."
            ),
        ),
        (
            "Label received, I'll drop it off tomorrow.",
            ("The label won't print, can you resend as PDF?"),
            "Replacement arrived and it's perfect. Thanks!",
            "Do I need the original box?",
        ),
        (
            "Photos confirm transit damage, claim filed with carrier.",
            ("Out of navy until next week - told customer."),
            "Third damaged kettle this week, flag to warehouse.",
        ),
        ("can I return the {product}?", "item arrived broken 😢 #{order}", "how do returns work?"),
    ),
    Topic(
        "address_change",
        2,
        ("shipping", "address_change"),
        ("Change delivery address", "Wrong address on order #{order}", "Redirect my parcel"),
        (
            (
                "Hi, I just noticed I used my old address on order #{order}. Can you change it to my "
                "new one before it ships? I've moved to the other side of town.\n\n{first}"
            ),
            (
                "Hello, is it possible to redirect my parcel to my office instead? I won't be home this "
                "week."
            ),
            "I typed the wrong postcode on my order. It's placed an hour ago.",
        ),
        (
            (
                "Hi {first}, good timing - the order hadn't left the warehouse yet, so I've updated the "
                "address. You'll get a new confirmation email.\n\n{agent}"
            ),
            (
                "Hi {first}, the parcel is already with the carrier, so we can't change it from our side. "
                "You can redirect it yourself with tracking number {tracking} on the carrier's site."
            ),
            "I've fixed the postcode. Thanks for catching it quickly!",
        ),
        (
            "Great, thank you!",
            "The carrier site asks for a fee to redirect. Can you cover it?",
            "I got the confirmation, all good.",
        ),
        (
            "Address updated before pick.",
            "Carrier redirect fee - approved goodwill credit.",
        ),
        ("need to change my delivery address!", "wrong address on my order 😱"),
    ),
    Topic(
        "app_bug",
        3,
        ("app", "bug"),
        ("App crashes on checkout", "Can't add items to cart", "App stuck on loading screen"),
        (
            (
                "Hi,\n\nThe Kumo Mart app crashes every time I press 'Pay' on the checkout screen. iPhone 13, "
                "iOS 17.5, app version 8.3.0. I've reinstalled it twice.\n\n{first}"
            ),
            "The app just shows the loading spinner forever since this morning. Android, Pixel 7.",
            "When I tap 'Add to cart' nothing happens. The website works fine.",
        ),
        (
            (
                "Hi {first},\n\nThanks for the details - that helps a lot. We've reproduced the checkout crash "
                "on iOS 17.5 and a fix is in review with Apple. In the meantime, checkout on the website "
                "works and your cart is synced.\n\n{agent}"
            ),
            (
                "Hi {first}, could you try clearing the app cache (Settings > Apps > Kumo Mart > Storage > "
                "Clear cache) and let me know if it helps?"
            ),
            (
                "We had a brief outage of the cart service this morning; it's been fixed. Could you try "
                "again?"
            ),
        ),
        (
            "Cleared cache, still crashing.",
            "Works now, thanks!",
            "Here's a screen recording of what happens.",
            "Will the fix be out before the sale ends?",
        ),
        ("Repro on iOS 17.5 only, JIRA MOB-1182.", "Sent app-store promo credit as apology."),
        ("app keeps crashing at checkout 😡", "app won't load", "cart button does nothing??"),
    ),
    Topic(
        "subscription",
        1,
        ("subscription", "plan_change"),
        ("Cancel my subscription", "Upgrade to Business plan", "Charged twice this month"),
        (
            (
                "Hello,\n\nPlease cancel my Kumo Cloud subscription at the end of the current period. We're "
                "consolidating tools.\n\nThanks,\n{first} {last}"
            ),
            (
                "Hi, we'd like to upgrade from Pro to Business for {company} (about 25 seats). Can the "
                "change be prorated?"
            ),
            "I was charged {amount} twice on {date} for the same plan.",
        ),
        (
            (
                "Hi {first},\n\nI've scheduled the cancellation for the end of your billing period; you keep "
                "full access until then. If there's anything we could have done better, I'd love to "
                "hear it.\n\n{agent}"
            ),
            (
                "Hi {first}, yes - upgrades are prorated to the day. I've switched {company} to Business "
                "and the difference will appear on the next invoice."
            ),
            (
                "You're right, there was a duplicate charge. I've refunded {amount}; it should appear "
                "within 5 business days."
            ),
        ),
        (
            "Confirmed, thanks.",
            "Actually, can we pause instead of cancelling?",
            "Great, the team can see the new features already.",
        ),
        (
            "Churn risk - offered 2 months at 50%.",
            ("Duplicate charge caused by retry bug, PAY-331."),
        ),
        ("how do I cancel my subscription?", "charged twice this month?!"),
    ),
)

# ----------------------------------------------------------------- Japanese topics
JA_TOPICS = (
    Topic(
        "order_status",
        2,
        ("order_status", "shipping", "配送"),
        (
            "注文が届きません",
            "注文番号{order}の配送状況について",
            "商品がまだ届いていません",
            "配達完了になっているのに届いていません",
        ),
        (
            (
                "お世話になっております。{last}と申します。\n\n{date}に注文した{product}（注文番号 {order}）が"
                "まだ届いていません。追跡番号 {tracking} で確認しても4日前から更新がありません。\n"
                "状況を確認していただけますでしょうか。\n\nよろしくお願いいたします。"
            ),
            (
                "注文番号 {order} の件です。昨日到着予定だったのですが、まだ届いていません。週末までに"
                "必要なのですが、何とかなりませんか？"
            ),
            (
                "追跡画面では「配達完了」になっていますが、自宅にも宅配ボックスにも届いていません。"
                "誤配の可能性はありますでしょうか。"
            ),
        ),
        (
            (
                "{last}様\n\nお問い合わせいただきありがとうございます。{agent_last}でございます。\n"
                "配送業者に確認いたしましたところ、ご注文 {order} は現在最寄りの営業所に到着しており、"
                "明日18時までにお届け予定とのことです。大変お待たせしており申し訳ございません。\n\n"
                "引き続きよろしくお願いいたします。"
            ),
            (
                "{last}様\n\nご不便をおかけして誠に申し訳ございません。配送業者にて仕分けの誤りがあった"
                "ことが判明いたしました。調査を依頼しておりますので、48時間以内に動きがない場合は"
                "代替品を無償でお送りいたします。"
            ),
            (
                "{last}様\n\n{product}を速達にて再発送いたしました。新しい追跡番号は {tracking} です。"
                "元の荷物が届いた場合は、お手数ですがご連絡ください。返送は不要です。"
            ),
        ),
        (
            "その後いかがでしょうか。まだ届いていません。",
            "承知しました。ありがとうございます！",
            "今朝届きました。ご対応ありがとうございました🙇\u200d♀️",
            "追跡画面はまだ古いままです。待つべきでしょうか、それとも返金をお願いできますか？",
        ),
        (
            "配送業者に調査依頼済み。営業所で滞留。",
            "リピーターのため調査結果を待たずに再発送OK。",
            "注文の住所に部屋番号が抜けている。",
        ),
        (
            "注文{order}まだ届かないです…📦",
            "荷物いつ届きますか？",
            "@kumomart 配達完了になってるのに届いてない😭",
        ),
    ),
    Topic(
        "refund",
        1,
        ("refund", "billing", "返金"),
        ("返金について", "返金がまだ確認できません", "キャンセルした注文の請求について"),
        (
            (
                "お世話になっております。\n\n2週間前に{product}を返品し、{date}に受領済みとなっていますが、"
                "{amount}の返金がまだカードに反映されていません。通常どのくらいかかりますでしょうか。\n\n"
                "{last} {first_ja}"
            ),
            (
                "注文番号 {order} を注文後1時間以内にキャンセルしたのですが、{amount}が請求されています。"
                "返金をお願いします。"
            ),
            "{product}が3日で充電できなくなりました。交換ではなく返金を希望します。",
        ),
        (
            (
                "{last}様\n\nお問い合わせありがとうございます。{amount}の返金手続きを完了いたしました。"
                "カード会社により反映まで3〜5営業日ほどかかる場合がございます。返金番号は R-{order} です。"
                "\n\n何卒よろしくお願いいたします。"
            ),
            (
                "{last}様\n\nご確認いただいている請求は与信枠の確保によるもので、7日以内に自動的に取り消され"
                "ます。それ以降も残っている場合は、こちらにご返信ください。"
            ),
            (
                "{last}様\n\n{product}の不具合、大変申し訳ございません。返品不要で返金を承認いたしました。"
                "確認メールをお送りしております。"
            ),
        ),
        (
            "まだ明細に反映されていません。処理済みの証明をいただけますか？",
            "確認できました。ありがとうございました。",
            "承知しました、もう少し待ってみます。",
            "解約済みのカードなので、別のカードに返金できますか？",
        ),
        ("返品不要返金（5,000円以下）で承認。", "決済代行側で返金完了を確認済み。"),
        (
            "返金まだですか？注文{order}",
            "お金いつ戻りますか🙏",
            "{product}壊れたので返金したいです",
        ),
    ),
    Topic(
        "return",
        2,
        ("return", "返品"),
        (
            "返品したいです",
            "サイズ交換について",
            "商品が破損していました",
            "返品方法を教えてください",
        ),
        (
            (
                "お世話になっております。\n\n注文番号 {order} の{product}が、蓋が割れた状態で届きました。"
                "写真を添付いたします。交換をお願いできますでしょうか。\n\n{last}"
            ),
            "{product}を返品したいのですが、手続きを教えてください。未開封です。",
            "紺色を注文したのですが、グレーが届きました。交換は可能でしょうか。",
        ),
        (
            (
                "{last}様\n\nこの度は破損した状態でお届けしてしまい、誠に申し訳ございません。\n"
                "返送用の着払い伝票を {email} 宛にお送りしました。発送が確認でき次第、交換品を"
                "お送りいたします。\n\n{agent_last}"
            ),
            (
                "{last}様\n\n商品到着後30日以内であれば返品は無料です。返品番号 RMA-{order} を発行いたし"
                "ましたので、メールの伝票を印刷してお近くのコンビニからご発送ください。"
            ),
            "{last}様\n\n紺色への交換を手配いたしました。グレーの商品は、お送りした伝票でご返送ください。",
        ),
        (
            "伝票届きました。明日発送します。",
            "伝票が印刷できません。PDFで再送いただけますか？",
            "交換品が届きました。ありがとうございました✨",
            "元の箱は必要ですか？",
        ),
        (
            "写真で輸送中の破損を確認。運送会社に申請済み。",
            "紺色は来週入荷予定と案内済み。",
            "今週3件目のケトル破損。倉庫に共有する。",
        ),
        ("{product}返品できますか？", "商品が壊れて届きました😢", "返品のやり方教えてください"),
    ),
    Topic(
        "password_reset",
        3,
        ("account", "password_reset"),
        (
            "パスワードを再設定できません",
            "パスワード再設定メールが届きません",
            "アカウントがロックされました",
        ),
        (
            (
                "お世話になっております。\n\nパスワード再設定を3回試しましたが、メールが届きません。"
                "迷惑メールフォルダも確認済みです。登録メールアドレスは {email} です。\n\n{last}"
            ),
            (
                "再設定リンクをクリックすると「リンクの有効期限が切れています」と表示されます。"
                "すぐにクリックしているのですが…"
            ),
            "ログインを何度か失敗してロックされてしまいました。本日中に請求書をダウンロードしたいです。",
        ),
        (
            (
                "{last}様\n\nお待たせいたしました。アカウントのロックを解除し、{email} 宛に新しい再設定"
                "リンクをお送りしました。有効期限は30分です。届かない場合は no-reply@kumomart.example の"
                "受信許可をご確認ください。\n\n{agent_last}"
            ),
            (
                "{last}様\n\n一部のメールサービスで当社からのメールが遅延しております。代わりにワンタイム"
                "ログインコードをお送りしましたので、10分以内にご利用ください。"
            ),
            (
                "{last}様\n\nリンクを申請したブラウザとは別のブラウザで開くと、期限切れと表示されることが"
                "ございます。同じブラウザにリンクを貼り付けてお試しいただけますでしょうか。"
            ),
        ),
        (
            "まだできません。同じエラーです。",
            "ログインできました！ありがとうございます。",
            "コード届きました、解決しました👍",
            "iPadなのですが、どのブラウザを使えばよいですか？",
        ),
        (
            "メールログ上、受信箱容量オーバーで不達。",
            "直近の注文番号で本人確認してからロック解除。",
        ),
        ("パスワードリセットのメール来ないです", "ログインできません助けて💦"),
    ),
    Topic(
        "vpn",
        3,
        ("vpn", "technical"),
        (
            "VPNが頻繁に切断されます",
            "社内からVPNに接続できません",
            "VPN エラー809",
            "アップデート後VPNが遅い",
        ),
        (
            (
                "いつもお世話になっております。{company}の{last}です。\n\n昨日のアップデート以降、Kumo Cloud "
                "VPN クライアントが10〜15分ごとに切断されます。Windows 11、クライアント 4.2.1 です。"
                "チーム全体で発生しており業務に支障が出ています。\n\nよろしくお願いいたします。"
            ),
            (
                "オフィスから接続すると「エラー809: コンピューターとVPNサーバー間のネットワーク接続を"
                "確立できませんでした」と表示されます。自宅からは問題なく接続できます。"
            ),
            "アップデート後、VPNの速度が200Mbps程度から20Mbps程度まで落ちました。既知の問題でしょうか。",
        ),
        (
            (
                "{last}様\n\n詳細なご報告ありがとうございます。エラー809は、社内ファイアウォールで UDP "
                "500/4500 が遮断されている場合に発生します。ネットワーク管理者様にポートの許可をご依頼いただくか、"
                "クライアントを TCP モード（設定 > プロトコル > TCP 443）に切り替えてお試しください。\n\n"
                "{agent_last}"
            ),
            (
                "{last}様\n\nクライアント 4.2.1 にてアイドル状態のトンネルが切断される不具合を確認いたしました。"
                "修正版 4.2.2 を本日より配信しており、管理コンソールからダウンロード可能です。"
            ),
            (
                "{last}様\n\nお手数ですが、クライアントのログをお送りいただけますでしょうか。"
                "ヘルプ > 診断情報のエクスポート から取得できます。"
            ),
        ),
        (
            "ログを添付します。14:32にまた切断されました。",
            "TCPに切り替えたら直りました。ありがとうございます！",
            "4.2.2に更新しました。2時間切断なしです。",
            "管理者によるとポートは開いているそうです。他に試せることはありますか？",
        ),
        (
            "ネットワークチームにエスカレーション。ログ上MTUの問題。",
            "この組織で40席以上影響、優先度高で対応。",
        ),
        ("VPNがアップデートから10分おきに切れる", "VPN繋がらない😤エラー809"),
    ),
    Topic(
        "invoice",
        1,
        ("invoice", "billing", "請求書"),
        (
            "{month}分の請求書発行のお願い",
            "請求書の宛名変更について",
            "適格請求書（インボイス）の登録番号について",
        ),
        (
            (
                "いつもお世話になっております。{company} 経理担当の{last}です。\n\n{month}分の請求書を"
                "お送りいただけますでしょうか。金曜日までに必要です。宛名は「{company}」でお願いいたします。\n\n"
                "何卒よろしくお願い申し上げます。"
            ),
            "請求書 {invoice} の住所が旧住所のままになっております。新住所で再発行いただけますでしょうか。",
            (
                "今後の請求書に適格請求書発行事業者の登録番号を記載していただきたく、直近3か月分の再発行も"
                "お願いいたします。"
            ),
        ),
        (
            (
                "{last}様\n\nいつもご利用いただきありがとうございます。{month}分の請求書 {invoice} を添付いたします。"
                "管理コンソールの 請求 > 請求書 からもダウンロードいただけます。\n\n{agent_last}"
            ),
            (
                "{last}様\n\n請求先住所を更新し、請求書 {invoice} を再発行いたしました。旧請求書は無効と"
                "なりますので、破棄していただけますと幸いです。"
            ),
            "{last}様\n\n登録番号をアカウントに設定し、直近3か月分の請求書を再発行いたしました。添付をご確認ください。",
        ),
        (
            "受領いたしました。ありがとうございます。",
            "新しい請求書の金額が異なるのですが、正しいでしょうか。",
            "発注番号 4500-{order} も記載いただけますか。",
            "迅速なご対応ありがとうございました。",
        ),
        ("経理承認済み、再発行。", "年間契約のため手動で請求書作成。"),
        ("請求書ダウンロードできる場所どこですか？", "{month}の請求書ください"),
    ),
    Topic(
        "address_change",
        2,
        ("shipping", "address_change", "配送"),
        ("配送先の変更", "お届け先住所の誤りについて", "配達日時の変更"),
        (
            "注文番号 {order} で旧住所を入力してしまいました。発送前でしたら新住所に変更いただけますか。\n\n{last}",
            "今週は不在にするため、勤務先への配送に変更することは可能でしょうか。",
            "郵便番号を間違えて入力してしまいました。1時間前に注文したものです。",
        ),
        (
            (
                "{last}様\n\nまだ倉庫から出荷前でしたので、お届け先を変更いたしました。確認メールを再送しております。"
                "\n\n{agent_last}"
            ),
            (
                "{last}様\n\n既に配送業者に引き渡し済みのため、当社からの変更ができません。追跡番号 {tracking} にて"
                "配送業者のサイトから転送をご依頼いただけます。"
            ),
            "{last}様\n\n郵便番号を修正いたしました。お早めにご連絡いただきありがとうございます。",
        ),
        (
            "ありがとうございます！",
            "転送に手数料がかかると言われました。負担していただけますか？",
            "確認メール届きました。",
        ),
        ("出荷前に住所変更済み。", "転送手数料、クーポンで補填。"),
        ("配送先変えたいです！", "住所間違えました😱注文{order}"),
    ),
    Topic(
        "app_bug",
        3,
        ("app", "bug"),
        ("アプリが決済画面で落ちます", "カートに追加できません", "アプリが起動しません"),
        (
            (
                "Kumo Mart アプリで「支払う」を押すと毎回アプリが落ちます。iPhone 13、iOS 17.5、"
                "アプリ 8.3.0 です。再インストールも2回試しました。"
            ),
            "今朝からアプリがずっと読み込み中のままです。Android（Pixel 7）です。",
            "「カートに追加」を押しても何も起きません。Webサイトでは問題ありません。",
        ),
        (
            (
                "{last}様\n\n詳細をありがとうございます。iOS 17.5 で決済時にアプリが終了する不具合を再現でき、"
                "修正版を審査中です。それまでの間、Webサイトからの決済をご利用ください（カートは同期されています）。"
                "\n\n{agent_last}"
            ),
            (
                "{last}様\n\nお手数ですが、アプリのキャッシュ削除（設定 > アプリ > Kumo Mart > ストレージ > "
                "キャッシュを削除）をお試しいただけますでしょうか。"
            ),
            (
                "{last}様\n\n今朝カート機能に一時的な障害が発生しておりましたが、現在は復旧しております。"
                "再度お試しください。"
            ),
        ),
        (
            "キャッシュを削除しましたが、まだ落ちます。",
            "直りました、ありがとうございます！",
            "画面録画を送ります。",
            "セール終了までに修正版は出ますか？",
        ),
        ("iOS 17.5 のみ再現。MOB-1182。", "お詫びとしてクーポン発行済み。"),
        ("アプリ決済で落ちる😡", "アプリ開かない…"),
    ),
    Topic(
        "subscription",
        1,
        ("subscription", "plan_change"),
        ("解約手続きについて", "ビジネスプランへの変更", "今月2回請求されています"),
        (
            (
                "お世話になっております。\n\n現在の契約期間終了をもって Kumo Cloud を解約したく、"
                "手続きをお願いいたします。\n\n{last}"
            ),
            "{company}で Pro から Business プランへの変更を検討しています（25名程度）。日割り計算は可能でしょうか。",
            "{date}に同じプランで{amount}が2回請求されています。",
        ),
        (
            (
                "{last}様\n\n契約期間終了日での解約を承りました。それまでは全機能をご利用いただけます。"
                "改善すべき点がございましたら、ぜひお聞かせください。\n\n{agent_last}"
            ),
            (
                "{last}様\n\nプラン変更は日割りで計算されます。{company}様を Business プランに変更いたしました。"
                "差額は次回の請求書に反映されます。"
            ),
            (
                "{last}様\n\nご指摘のとおり二重請求となっておりました。{amount}を返金いたしましたので、"
                "5営業日程度でご確認いただけます。"
            ),
        ),
        (
            "確認しました。ありがとうございます。",
            "解約ではなく一時停止はできますか？",
            "新機能がもう使えています。ありがとうございます。",
        ),
        ("解約リスク：2か月50%オフを提案済み。", "二重請求はリトライ不具合（PAY-331）が原因。"),
        ("解約方法教えてください", "今月2回請求されてる？！"),
    ),
)

TOPICS: dict[str, tuple[Topic, ...]] = {"en": EN_TOPICS, "ja": JA_TOPICS}

# ----------------------------------------------------------------- shared lines
GREETING_CHAT = {
    "en": ("Hi! 👋", "Hello?", "hi there", "Hi, is anyone there?"),
    "ja": ("こんにちは", "すみません、質問があります", "お問い合わせです", "こんにちは！"),
}
BOT_LINES = {
    "en": (
        (
            "Hi {first}! I'm {bot} 🤖. I can help with orders, returns and account questions. What "
            "can I do for you?"
        ),
        (
            "I found order #{order}: it shipped on {date} with tracking number {tracking}. Did that "
            "answer your question?"
        ),
        'Here\'s an article that might help: "{article}". Did this solve your problem?',
    ),
    "ja": (
        (
            "{last}様、こんにちは！{bot}です🤖 ご注文・返品・アカウントについてお手伝いします。"
            "ご用件をお聞かせください。"
        ),
        "ご注文 {order} は{date}に発送済みです（追跡番号 {tracking}）。こちらで解決しましたか？",
        "こちらの記事がお役に立つかもしれません：「{article}」。解決しましたか？",
    ),
}
BOT_NO = {"en": ("No, I need to talk to a person", "no", "Agent please"),
          "ja": ("いいえ、担当者と話したいです", "解決していません", "オペレーターをお願いします")}  # fmt: skip
BOT_HANDOFF = {
    "en": "Thanks for your patience - transferring you to an agent. Someone will be with you "
    "shortly. Average wait: {wait} minutes.",
    "ja": "担当者におつなぎします。少々お待ちください（平均待ち時間：約{wait}分）。",
}
ARTICLES = {
    "en": ("Tracking your delivery", "How refunds work", "Resetting your password",
           "Troubleshooting VPN connections", "Downloading invoices"),
    "ja": ("配送状況の確認方法", "返金の流れについて", "パスワードの再設定方法", "VPN接続のトラブルシューティング",
           "請求書のダウンロード方法"),
}  # fmt: skip
CHAT_AGENT_OPEN = {
    "en": (("Hi {first}, this is {agent_first}, I've read the conversation with the bot - let me "
           "look into this for you."), "Hi {first}! {agent_first} here. Give me a moment to check."),
    "ja": (("{last}様、お待たせいたしました。担当の{agent_last}です。ボットとのやり取りを拝見しました。"
           "確認いたしますので少々お待ちください。"), "{last}様、{agent_last}です。ただいま確認いたします。"),
}  # fmt: skip
THANKS = {
    "en": (
        "Thanks so much for your help!",
        "Thank you, that's everything.",
        "Great, thanks 🙏",
        "Appreciate the quick reply.",
    ),
    "ja": (
        "ご対応ありがとうございました。",
        "解決しました。ありがとうございます😊",
        "助かりました🙏",
        "迅速なご対応ありがとうございました。",
    ),
}
CLOSINGS = {
    "en": (("Glad I could help, {first}! I'll mark this as solved; just reply if anything else "
           "comes up.\n\n{agent}"), "You're welcome! Have a great day."),
    "ja": (("{last}様\n\nご確認ありがとうございます。本件は解決済みとさせていただきます。ほかにご不明な点が"
           "ございましたら、お気軽にご返信ください。\n\n{agent_last}"), "どういたしまして。今後ともよろしくお願いいたします。"),
}  # fmt: skip
LONG_FOLLOWUPS = {  # what keeps a long thread going
    "en": ("Any news on this?", "Just checking in again - this is still happening.",
           "I spoke to my colleague and we see the same thing.", "Here's another screenshot.",
           "It worked for a day and now it's back.", "Could someone call me? It's easier."),
    "ja": ("その後いかがでしょうか。", "まだ同じ状況です。", "同僚の端末でも同じ現象が起きています。",
           "スクリーンショットを追加で送ります。", "一日は直ったのですが、また再発しました。",
           "お電話いただくことは可能でしょうか。"),
}  # fmt: skip
LONG_REPLIES = {
    "en": (("Thanks {first}, I've passed this to our engineers and will update you as soon as I hear "
           "back."), "Sorry this is dragging on, {first}. We're testing a fix now.",
           "Could you try once more with the latest version and tell me what you see?"),
    "ja": ("{last}様\n\n技術担当に共有いたしました。進展があり次第ご連絡いたします。",
           "{last}様\n\n長らくお待たせしており申し訳ございません。現在修正を検証しております。",
           "{last}様\n\nお手数ですが、最新版で再度お試しいただき、結果をお知らせいただけますでしょうか。"),
}  # fmt: skip
SIGNATURES = {
    "en": ("\n\n--\n{first} {last}\nSent from my iPhone", "\n\n{first} {last}\n{company}",
           "\n\nBest,\n{first}"),
    "ja": ("\n\n――――――――\n{company}\n{last} {first_ja}", "\n\niPhoneから送信",
           "\n\n{last}"),
}  # fmt: skip
VOICE = {
    "en": "Inbound call from {phone}\nCall duration: {minutes} minutes {seconds} seconds\n"
    'Transcription: "{line}"',
    "ja": "{phone} からの着信\n通話時間：{minutes}分{seconds}秒\n文字起こし：「{line}」",
}
ATTACHMENTS = (
    ("photo.jpg", "image/jpeg"), ("IMG_2041.HEIC", "image/heic"), ("screenshot.png", "image/png"),
    ("client-log.txt", "text/plain"), ("invoice.pdf", "application/pdf"),
    ("receipt.pdf", "application/pdf"), ("screen-recording.mp4", "video/mp4"),
)  # fmt: skip
MONTHS = {"en": ("January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December"),
          "ja": tuple(f"{m}月" for m in range(1, 13))}  # fmt: skip


class _Slots(dict[str, str]):
    """format_map source that leaves unknown slots visible instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, slots: dict[str, str]) -> str:
    return template.format_map(_Slots(slots))


def pick(rng: Random, options: tuple[str, ...]) -> str:
    return options[int(rng.random() * len(options))]


def sprinkle_emoji(rng: Random, text: str, chance: float) -> str:
    if rng.random() < chance:
        return text + " " + pick(rng, EMOJI)
    return text


def html_paragraphs(text: str) -> str:
    """Zendesk's html_body: paragraphs in a `zd-comment` div, the text HTML-escaped."""
    parts = []
    for para in text.split("\n\n"):
        escaped = (
            para.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("\n", "<br>")
        )
        parts.append(f'<p dir="auto">{escaped}</p>')
    return '<div class="zd-comment" dir="auto">' + "".join(parts) + "</div>"
