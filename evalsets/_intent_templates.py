"""Message templates and slot vocabularies for the MangaAssist intent sets.

Syntax: ``{slot}`` is filled from the catalogue or the vocabularies below, ``[a|b|]`` picks one
alternative (an empty one drops the piece). Clean templates belong to exactly one intent under the
labelling guideline in :mod:`evalsets.intent`; ``AMBIGUOUS`` templates are what real traffic sends
when the message alone does not settle the intent, with the share of each intent annotators chose
once they saw the session.
"""

from __future__ import annotations

PD = "product_discovery"
REC = "recommendation"
PQ = "product_question"
OT = "order_tracking"
FAQ = "faq"
RR = "return_request"
CHIT = "chitchat"
PROMO = "promotion"
CH = "checkout_help"
ESC = "escalation"

# Seed 003's label distribution, in its order; the shares sum to 100.
INTENT_SHARES: dict[str, float] = {
    PD: 22.1,
    REC: 18.0,
    PQ: 15.2,
    OT: 12.1,
    FAQ: 8.0,
    RR: 7.0,
    CHIT: 5.5,
    PROMO: 5.0,
    CH: 4.1,
    ESC: 3.0,
}

# Multi-intent messages take the label of the most urgent request (first in this order).
PRIORITY: tuple[str, ...] = (ESC, RR, OT, CH, PROMO, PQ, REC, PD, FAQ, CHIT)

# Intents that share vocabulary; label noise and champion mistakes land on these.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    PD: (REC, PQ),
    REC: (PD, PQ, CHIT),
    PQ: (PD, REC, FAQ),
    OT: (RR, ESC, FAQ),
    FAQ: (CH, PROMO, OT),
    RR: (OT, ESC, CH),
    CHIT: (REC, ESC),
    PROMO: (CH, FAQ),
    CH: (PROMO, FAQ, RR),
    ESC: (RR, OT),
}


def _lines(block: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in block.strip().splitlines() if line.strip())


EN: dict[str, tuple[str, ...]] = {
    PD: _lines("""
        show me {genre} manga
        [do you have|got] any {genre} manga [in stock|right now|]?
        looking for {title}
        find {title} [vol|volume|v] {vol}
        search {author}
        where can i find the {title} {fmt}
        i'm looking for manga by {author}
        show me new releases in {genre}
        {genre} manga [list|catalog] please
        what {genre} titles do you carry?
        browse {genre} [series|titles] under {price}
        find me {fmt}s of {genre} manga
        do you sell {title}?
        i want to buy {title} volume {vol}
        can you pull up {title}?
        search for {title} {fmt}
        show all volumes of {title}
        list everything by {author}
        i need the {title} complete set
        what's new in manga this week
        new manga releases this month?
        {genre} {fmt}s in stock
        take me to the {title} page
        looking for a {genre} series that's already finished
        completed {genre} series with under {n}0 volumes
        i'm trying to find the {title} artbook
        {title} {fmt}
        buy {title} {vol}
        show me manga from the {genre} section
        any {genre} manga under {price}?
        filter {genre} by newest
        where's the {genre} section
        shop {title}
        i'd like to see your {fmt} collection
        find manga by the author of {title}
        what volumes of {title} do you [have|carry]
        pull up {author}'s latest
        english edition of {title}, where is it on the site
        show me {demo} one-shots
        browse {demo} manga
        i want the whole {title} series, where do i find it
        search results for {title} please
        need {title} {vol_lo} through {vol_hi}
    """),
    REC: _lines("""
        something like {title} but darker
        recommend me a {genre} manga
        what should i read after {title}?
        i loved {title}, what's next?
        any recs similar to {title}?
        suggest a manga for someone who likes {title} and {title2}
        what's a good {genre} manga for beginners
        best {genre} manga [ever|of all time]?
        gift idea for a {title} fan?
        my kid likes {title}, what else would they enjoy
        need a new series to binge
        what would you recommend for a long flight
        manga similar to {title}
        if i liked {author} who else should i try
        anything like {title}?
        pick something for me, i like {genre}
        underrated {genre} manga?
        hidden gems like {title}
        short {genre} series i can finish in a weekend
        what should i start, {title} or {title2}?
        recommend something wholesome
        i need something sad like {title}
        manga with a strong female lead?
        what to read while waiting for {title} vol {vol}
        give me {n} recs for {genre}
        your top {n} {genre} picks?
        which {genre} manga has the best art
        i finished {title}. now what
        dark psychological manga recs
        want something like {title} with less fanservice
        suggest a {fmt} for a birthday present
        good starter manga for my [girlfriend|brother|friend] who likes {genre}
        based on my history what would i like
        recommend me stuff like what i bought last time
        more like {title} [pls|please]
        what do {title} fans usually read next
        need recs!! {genre} with a good plot
        help me pick a new {genre} series
        what's similar to {title} but finished
        something cozy like {title}
        looking for recommendations, {genre}, not too long
        which {demo} series should i try first
    """),
    PQ: _lines("""
        is {title} vol {vol} in stock?
        how much is {title} volume {vol}?
        when does {title} vol {vol} come out?
        is the {title} {fmt} in english?
        how many volumes does {title} have?
        is {title} finished?
        does the {title} {fmt} come with a slipcase?
        what's the page count of {title} vol {vol}
        is {title} ok for a 12 year old?
        is {title} vol {vol} a first printing?
        what size is the {title} {fmt}?
        is the {fmt} of {title} hardcover?
        does {title} vol {vol} have color pages?
        which volume does the {title} anime end at?
        is {title} vol {vol} back in stock
        who translated {title}?
        when's the next {title} volume
        is the price of {title} vol {vol} really {price}?
        does the {title} {fmt} include all {vol} volumes
        how is the {title} {fmt} different from the regular edition?
        is the {title} {fmt} signed
        is {title} censored in the english version
        what age rating is {title}
        is {title} on kindle too?
        how many chapters are in {title} vol {vol}
        does {title} vol {vol} have the bonus chapter
        can i preorder {title} vol {vol} yet?
        is {title} vol {vol} still available
        dimensions of the {title} {fmt}?
        is the {title} {fmt} a limited edition?
        what's included in the {title} {fmt}
        does {title} have furigana
        is the {title} {fmt} new or used
        can i read {title} vol {vol} without the earlier ones?
        is {title} by {author}?
        which publisher does the english {title}
        is {title} vol {vol} the final volume?
        how heavy is the {title} {fmt}
        is {title} completed or ongoing
        {title} vol {vol} release date?
        price of the {title} {fmt}?
        is the {title} {fmt} shrink-wrapped
    """),
    OT: _lines("""
        where is my order?
        where's my order {order}
        track order {order}
        my package hasn't arrived [yet|]
        when will my {title} vol {vol} arrive?
        order {order} status?
        it's been {days} days and still no package
        has my order shipped yet?
        tracking number for {order} please
        the tracking page hasn't updated in {days} days
        has my {title} preorder shipped
        delivery status of my last order
        when does {order} get here
        can you check on order {order}
        where's my stuff
        i ordered {title} {days} days ago, where is it
        expected delivery date for {order}?
        package stuck in transit
        can u tell me when my manga will arrive
        shipping update on {order}?
        is order {order} out for delivery
        my {fmt} order is late
        why hasn't my order shipped
        when will {order} be dispatched
        courier says it's at the depot, when will it come
        order placed on monday, any update?
        which carrier is shipping {order}
        tracking says exception, what does that mean for {order}
        order status pls
        can you give me an eta on order {order}
        it's been a week, where's my package
        still waiting on {order}
        my order shows processing for {days} days
        check my delivery
        did you ship the {title} {fmt} yet
        where is the rest of my order, only got part of it
        when does the second part of {order} come
        my {title} vol {vol} says shipped but no tracking
        is my package coming today
        the delivery window for {order} passed
        what day will my manga be delivered
        where is my preorder of {title} vol {vol}
    """),
    FAQ: _lines("""
        how long does shipping usually take?
        do you ship to {country}?
        what's your return policy?
        what payment methods do you accept?
        do you have a physical store?
        how do i create an account
        how do i change my password
        is shipping free over a certain amount?
        what are your customer service hours
        do you sell used manga?
        how do preorders work
        can i change my default shipping address
        do you offer gift wrapping
        what currency are prices in
        do you ship internationally
        how long do i have to return something
        how does express shipping work
        can i order without an account
        are your manga official licensed copies
        how do digital manga downloads work
        can i read kindle manga on my phone
        do you deliver on weekends
        what's the cutoff time for same day shipping
        how do i delete my account
        is my payment info stored securely
        can i pick up from a convenience store
        where are you based
        do you restock sold out titles
        how do i update my email
        do you charge customs fees for {country}
        what languages is the site in
        do you have an app?
        how do gift cards work
        do you sell to schools or libraries
        is there a max order quantity
        how are books packaged
        do you have a membership program and what does it include
        can i get a receipt for my purchase
        how do i turn off email notifications
        what's the difference between standard and express delivery
        do you deliver to po boxes
        how do i report a bug on the site
    """),
    RR: _lines("""
        i want to return {title} vol {vol}
        how do i return my order {order}
        the {title} {fmt} arrived damaged, i want a refund
        got the wrong volume, need to send it back
        refund for order {order}
        can i exchange {title} vol {vol} for vol {vol2}
        return label please
        i received two copies of {title} vol {vol}, return one
        the box set was crushed, i want my money back
        start a return for {order}
        pages are missing in {title} vol {vol}, can i get a replacement
        misprint in {title} vol {vol}, want to exchange it
        return the {fmt}, changed my mind
        can i still return something i bought {days} days ago
        want a refund, the {title} cover is torn
        wrong item sent, i ordered {title} but got {title2}
        send back {title} vol {vol}
        i need to return a gift
        exchange it for the english edition
        the kindle version of {title} won't open, refund pls
        how do i get a refund on a digital manga
        return request for {title}
        item arrived water damaged
        please refund my {title} preorder
        i want to swap the {title} {fmt} for a different edition
        refund the shipping on {order}, it came late
        binding is falling apart on {title} vol {vol}, return?
        where do i drop off a return
        can i return an opened box set
        the {title} {fmt} has a dent, i want to exchange it
        return {order} please
        i don't want {title} anymore, return it
        please process a return for the damaged volume
        my return label expired, new one please
        vol {vol} was in the wrong language, send me the english one
        i'd like to return part of my order {order}
        defective copy of {title}, refund or replace
        the slipcase on my {title} {fmt} is broken, replacement please
        i want my money back for {title} vol {vol}
        ordered vol {vol} got vol {vol2}, swap please
        return and refund {title}, it's a duplicate
        the print on {title} vol {vol} is blurry, can i exchange it
    """),
    CHIT: _lines("""
        hi
        hello!
        thanks!
        you're awesome
        lol
        are you a bot?
        what's your favorite manga?
        good morning
        who made you
        tell me a joke
        i just finished {title} and i'm crying
        {title} is peak fiction fr
        do you even read manga
        ok cool
        bye
        thank you so much, that helped
        what's your name
        how are you today
        {title} vol {vol} ending was insane
        nvm
        haha nice
        can we talk about {title}
        i'm bored
        happy new year!
        what time is it in tokyo
        do you like {genre}?
        you speak japanese?
        test
        ok thanks bye
        omg {title} anime announcement!!
        good night
        sorry wrong chat
        have a nice day
        {author} is a genius
        this app is cute
        are you real
        lmao ok
        i love this store
        {title} made me cry again
        you're pretty smart for a bot
        my cat just knocked over my {title} shelf lol
        just wanted to say {title} vol {vol} was amazing
    """),
    PROMO: _lines("""
        any sales on {title}?
        is there a discount on the {title} {fmt}?
        do you have coupon codes?
        when is the next manga sale
        black friday deals?
        is {code} still valid?
        any deals on {genre} manga this week
        is buy 2 get 1 free still on?
        student discount?
        do bonus points apply to {title}
        any free shipping promo right now?
        what's on sale today
        any bundle deals for {title} volumes 1-{vol}
        will the {title} {fmt} go on sale
        first order discount?
        how many reward points do i have
        is there a promo for new members
        newsletter discount code?
        price drop on {title} anytime soon?
        is the {genre} campaign still running
        when does the summer sale end
        what promotions are running
        any cashback offers
        is there a {n}0% off code
        kindle manga deals?
        discount for buying the whole {title} set?
        why isn't {title} in the sale
        double points days?
        any freebies with {title} vol {vol}
        gift with purchase for {title}?
        birthday coupon?
        deal of the day
        flash sale today?
        when is the golden week sale
        loyalty rewards this month?
        does the sale include {fmt}s
        coupon for {title}?
        referral bonus?
        is {title} cheaper in the bundle
        let me know about deals on {author}
        which {demo} titles are discounted
        any promo on preorders of {title} vol {vol}
    """),
    CH: _lines("""
        my payment keeps failing
        can't apply the code {code} at checkout
        checkout button not working
        card declined but the order page still spins
        how do i use {pay} at checkout
        can't complete my purchase
        error at the payment step
        how do i add a gift card at checkout
        can i split payment between card and points
        cart is empty after i log in
        shipping address won't save at checkout
        how do i change the payment method on this order
        the page froze when i clicked pay
        {pay} isn't showing as an option
        is it safe to pay with {pay}
        can't select express shipping at checkout
        the order total looks wrong
        i was charged {price} but the cart said less
        how do i pay at the convenience store
        my {pay} payment is pending
        checkout says item unavailable but it's in stock
        can't remove {title} from my cart
        why is tax added at checkout
        how do i pay in installments
        3d secure verification keeps failing
        can i checkout as a guest
        points not applying at checkout
        the promo code field is missing
        error {n}02 when placing my order
        how do i place an order
        cart won't update the quantity
        my card is not accepted
        can i pay with {pay} for a preorder
        invalid billing address error
        checkout stuck on loading
        can't buy {title} vol {vol}, add to cart does nothing
        change the quantity of {title} before i pay
        apply store credit to my cart
        why was my payment declined
        the coupon {code} says expired at checkout
        can't confirm my order, the button is greyed out
        payment page keeps logging me out
    """),
    ESC: _lines("""
        i want to talk to a human
        let me speak to a real person
        this is ridiculous, get me a manager
        agent please
        your bot is useless, connect me to support
        i've asked three times, escalate this
        i'm going to file a complaint
        customer service now
        i need a real human about order {order}
        nobody is helping me, i want a supervisor
        my order has been wrong {n} times now, i want someone to call me
        i'll dispute the charge with my bank if this isn't fixed
        representative
        transfer me to an agent
        can i call someone
        stop giving me links, i need a person
        unacceptable. human please.
        i've been charged twice and nobody responds, escalate now
        i need to speak to someone about my account being locked
        let me talk to your boss
        connect me with live chat
        i want to report a problem with a seller
        you're not understanding me. real person
        escalate my ticket about {order}
        i want compensation for {order}
        my account was hacked, need help urgently
        get me someone who can actually fix this
        i'm done with this bot
        still not resolved after {days} days, escalating
        can a human look at my refund
        i demand to speak with support staff
        operator
        this is a legal matter, who do i contact
        someone stole my package and you did nothing, i want a person
        i want to cancel my membership and talk to someone
        real agent pls
        how do i reach a person, this chat is going in circles
        manager. now.
        useless. give me a human
        file a formal complaint about order {order}
        {days} days and three emails, put me through to a supervisor
        i will report you to consumer protection
    """),
}

JA: dict[str, tuple[str, ...]] = {
    PD: _lines("""
        {genre}の漫画を探しています
        {author}の作品を見せてください
        {title}を探してる
        {title}の{fmt}を探しています
        新刊一覧を見たいです
        今月の新刊を見せて
        {genre}のマンガ一覧ください
        {author}先生の本、全部見せてもらえますか
        {title}の商品ページを開いて
        {price}以下の{genre}漫画を探してる
        完結済みの{genre}作品を探しています
        {title}買いたいんだけど
        {title}の{vol}巻を買いたいです
        {fmt}で{title}を探しています
        {genre}のコーナーどこ？
        {title}の関連商品を見たい
        {title}って売ってる？
        {demo}漫画の新作を見せてください
        {title}の画集を探してるんだけど
        {title} {vol}巻 検索
        {genre}の{fmt}を一覧で見せていただけますか
        {title}の最新刊を探しています
        短編集を探してる
        {title}を全巻まとめて買いたいです
        {author}の作品一覧ください
        {title}の{vol_lo}巻から{vol_hi}巻まで欲しい
        新着の{genre}漫画を見せて
    """),
    REC: _lines("""
        {title}みたいな漫画ある？
        {title}が好きなんですが、似た作品を教えてください
        おすすめの{genre}漫画を教えてください
        {title}読み終わった、次何読めばいいかな
        何か面白い漫画ない？
        {title}っぽいやつでもっと暗いのない？
        初心者向けの{genre}漫画を教えていただけますか
        {title}と{title2}が好きな人におすすめは？
        泣ける漫画教えて
        週末で読み切れる{genre}作品ある？
        子供向けのおすすめ漫画はありますか
        {author}好きなら他に誰がおすすめ？
        最近ハマれる漫画探してるんだけど、おすすめある？
        プレゼントにおすすめの{fmt}はありますか
        {title}ロスなんだけど何読めばいい？
        隠れた名作教えて
        絵がきれいな{genre}漫画を教えてください
        {title}の次に読むならどれ？
        {title}と{title2}、どっちから読むべき？
        ほのぼの系でおすすめある？
        私の好みに合いそうな漫画を選んでいただけますか
        前に買ったやつに似てるの教えて
        {genre}で一番面白いのってどれかな
        短めの{genre}漫画でいいのある？
        {title}好きにおすすめの作品を{n}つ教えてください
        読んでおくべき名作ってなに？
        {title}みたいな熱い展開の漫画ほしい
    """),
    PQ: _lines("""
        {title}の{vol}巻は在庫ありますか？
        {title}の{vol}巻っていくら？
        {title}の{vol}巻の発売日はいつですか
        {title}は完結してますか？
        {title}って全部で何巻？
        {title}の{fmt}には特典が付いていますか
        {title}の{fmt}のサイズを教えてください
        {title}は何歳から読めますか
        {title}の{vol}巻、再入荷する？
        {title}の{fmt}は初版ですか
        {title}の{vol}巻ってカラーページある？
        {title}の{fmt}は何冊入りですか
        {title}の{vol}巻は予約できますか
        {title}の次の巻いつ出るの？
        {title}の作者って{author}だっけ？
        {title}の{fmt}、ページ数はどれくらいですか
        {title}ってアニメの続きは何巻から？
        {title}の{vol}巻は最終巻ですか
        {title}の{fmt}は新品ですか、中古ですか
        {title}は電子書籍でも買えますか
        {title}の{vol}巻の値段は{price}で合ってる？
        {title}の{fmt}にシュリンクは付いてますか
        {title}って連載中？
        {title}の{vol}巻、まだ買える？
        {title}の{fmt}と通常版の違いは何ですか
        {title}はふりがな付きですか
        {title}の{vol}巻に描き下ろしは入っていますか
    """),
    OT: _lines("""
        注文した商品がまだ届きません
        注文番号{order}の配送状況を教えてください
        荷物どこ？
        {title}の{vol}巻いつ届く？
        もう{days}日経つけどまだ来ないんだけど
        発送されましたか？
        追跡番号を教えていただけますか
        注文{order}はいつ届きますか
        配達予定日を確認したいです
        予約してた{title}、発送された？
        追跡ページが{days}日間更新されてないです
        注文ステータス見たい
        荷物が配送中のまま止まってる
        {order}の状況どうなってる？
        いつ発送になりますか
        配送業者はどこですか
        まだ準備中って出てるんだけど
        届くのいつになりそうかな
        注文した{fmt}が届かないです
        一部しか届いてないんですが、残りはいつ届きますか
        お届け予定を教えてください
        昨日頼んだやつ、もう発送された？
        注文確認したいです、{order}です
        宅配ボックスに入ってなかったんだけど、今どこ？
        {days}日前に注文した{title}がまだです
        発送通知まだ来てないんですけど
        {title}の{fmt}、今日届きますか
    """),
    FAQ: _lines("""
        送料はいくらですか
        配送には普通どれくらいかかりますか
        返品ポリシーを教えてください
        支払い方法は何がありますか
        海外発送はしていますか
        会員登録のやり方を教えて
        パスワード変更ってどうやるの？
        コンビニ受け取りできますか
        営業時間は？
        中古の漫画も扱ってますか
        予約注文の仕組みを教えてください
        登録住所の変更方法は？
        ギフトラッピングはできますか
        アプリってある？
        領収書は発行できますか
        土日も配達してますか
        アカウントの削除方法を教えてください
        電子書籍はどの端末で読めますか
        {city}まで何日で届きますか
        当日発送の締め切りは何時ですか
        ギフトカードの使い方を教えて
        メールアドレスの変更はどこでできますか
        関税はかかりますか
        正規品ですか
        品切れの商品は再入荷しますか
        返品できる期間は何日までですか
        メルマガの配信停止ってどうやるの？
    """),
    RR: _lines("""
        {title}の{vol}巻を返品したいです
        届いた{fmt}が破損していました。返金してください
        違う巻が届いたので交換してほしい
        注文{order}の返品方法を教えてください
        返品ラベルをください
        {title}が二冊届いたので一冊返品したい
        ページが抜けてるので交換してもらえますか
        返金お願いします
        間違えて買っちゃった、返品できる？
        カバーが破れてたんだけど、交換してくれる？
        {title}じゃなくて{title2}が届きました。返品したいです
        {title}の{fmt}を別の版に交換できますか
        乱丁があったので返品させていただけますか
        箱がつぶれてた、返金して
        やっぱりいらなくなったので返品したい
        電子書籍の返金ってできますか
        {order}を返品したいんですが
        水濡れしてたので返品します
        落丁本の交換をお願いします
        プレゼントでもらった本を返品できますか
        {title}の予約分、返金してください
        返品の受付をお願いします
        英語版と間違えたので交換したいです
        届いた{title}汚れてるんだけど、返品したい
        注文の一部だけ返品したいです
        初期不良っぽいので返金か交換お願いします
        {title}の{vol}巻、印刷がかすれてるので交換してほしい
    """),
    CHIT: _lines("""
        こんにちは
        ありがとう！
        ありがとうございます、助かりました
        ボットなの？
        好きな漫画なに？
        おはよう
        {title}最高すぎる
        {title}の{vol}巻やばかった…泣いた
        暇だな〜
        名前なんていうの？
        元気？
        草
        了解です
        またね
        おやすみなさい
        {author}天才じゃん
        日本語わかる？
        テスト
        やっぱいいや
        すごいね
        あけおめ！
        {title}の話しようよ
        ちょっと聞いてよ、{title}読んだ
        AIなんですか？
        なるほどね
        いつもお世話になってます
        {title}の最終回、まだ引きずってるw
    """),
    PROMO: _lines("""
        {title}のセールってありますか
        クーポンコードありますか
        次のセールはいつですか
        {code}ってまだ使える？
        今日のセール品は？
        {title}の{fmt}、割引ある？
        ポイント還元キャンペーンやってますか
        初回購入の割引はありますか
        まとめ買い割引ってある？
        学割ありますか
        ブラックフライデーのセールはいつから？
        送料無料キャンペーンはありますか
        {genre}漫画のセールやってる？
        ポイント何倍デー？
        {title}全巻セット安くならないかな
        誕生日クーポンってもらえる？
        キャンペーン一覧を見せてください
        会員限定セールってありますか
        電子書籍のセールある？
        {title}、値下がりしないかな
        特典付きキャンペーンありますか
        メルマガ登録で割引ある？
        今やってるキャンペーン教えて
        夏のセールいつまで？
        {n}0%オフのクーポンない？
        友達紹介キャンペーンってありますか
        年末セールやる？
    """),
    CH: _lines("""
        決済がエラーになります
        クーポン{code}が適用されません
        購入ボタンが押せない
        カードが通らないんですけど
        {pay}で支払うにはどうすればいいですか
        カートが空になってる
        支払い画面で止まってしまいます
        ギフトカードの残高を支払いに使いたいです
        購入時にポイントが使えない
        コンビニ払いのやり方を教えてください
        お届け先住所が保存できない
        この注文の支払い方法を変更したい
        {pay}が選べないんだけど
        合計金額がおかしいです
        ゲスト購入はできますか
        分割払いはできますか
        注文確定できない
        カートに{title}が入らない
        本人認証で失敗します
        請求先住所エラーが出ます
        注文画面が固まった
        数量が変更できないです
        送料が二重にかかってるみたい
        購入手続きでエラーコード{n}01が出ます
        購入手続きの途中でログアウトされた
        レジに進めません
        {price}のはずが会計で高くなってる
    """),
    ESC: _lines("""
        人と話したい
        オペレーターにつないでください
        責任者を出してください
        ボットじゃ話にならない
        担当者に代わってもらえますか
        何回も聞いてるんだけど、ちゃんと対応して
        苦情を申し入れたいです
        電話で対応してほしい
        もういい、人間に代わって
        注文{order}の件で担当の方と話したいです
        {days}日も放置されてます。上の人に確認してください
        カード会社に連絡しますよ
        サポートに直接つないで
        ちゃんとした人に対応してほしい
        アカウント乗っ取られたかも、至急対応お願いします
        消費者センターに相談します
        有人チャットに切り替えてください
        担当者から折り返し電話をください
        リンク貼るだけじゃなくて人が対応して
        納得できないので上司を出して
        正式にクレームを入れたい
        全然解決しない、スタッフ呼んで
        補償してほしいので担当者と話させて
        いい加減にしてください、人に代わって
        問い合わせ窓口の人とつないでいただけますか
        これ以上ボットと話しても無駄
        至急、担当者に連絡したいです
    """),
}

MIXED: dict[str, tuple[str, ...]] = {
    PD: _lines("""
        {title_en}の最新巻 探してる
        looking for {title_ja}の{fmt}
        {genre}系のmanga 見せて
        show me {author}の作品
        find {title_ja} 全巻
        new releases 今月のやつ見たい
        {title_en} vol {vol} 買いたい
        search {title_ja} pls
        {genre}のmanga list ください
        {title_en}の英語版 find できる？
        {demo} manga の新作 show me
        {title_ja} の kindle版 探してます
        where is {title_ja} の売り場
        {author} sensei の本 全部 見たい
        {price}以下の {genre} manga 探してる
        {title_en}の{vol_lo}巻から{vol_hi}巻まで buy したい
    """),
    REC: _lines("""
        {title_ja}みたいな manga recommend して
        something like {title_ja} ないかな
        おすすめ {genre} manga plz
        {title_en}好きなんだけど next 何読めばいい？
        any recs {title_ja}っぽいやつ
        {title_en}ロス… what should i read
        best {genre} manga 教えて
        {title_ja}と{title2_en}好きな人向けの recommendation ある？
        hidden gem 教えてください
        suggest して、{genre}系で
        {title_en}みたいなの but darker
        short series で おすすめある？
        gift用に recommend してほしい
        {author}好き、similar な作家いる？
        weekend で読める{genre}のおすすめある？
        {title_ja}の次に読むべき manga は？
    """),
    PQ: _lines("""
        {title_en}の最新巻 still in stock?
        {title_ja} vol {vol} いくら？
        {title_en} {vol}巻 release date いつ？
        is {title_ja} 完結してる?
        {title_en}って何巻まで出てる？
        {title_ja} vol {vol} 在庫ある？
        {title_en}の{fmt}、特典 included?
        {title_ja} は何歳から ok?
        {title_en} vol {vol} 再入荷 when?
        {title_ja}のpage数 教えて
        {title_en}の{fmt} size どれくらい？
        {title_ja} vol {vol} preorder できる?
        {title_en} は ongoing? 連載中？
        {title_ja}の{vol}巻って final volume?
        {title_en}の{fmt}は hardcover ですか
        {title_ja} english版の翻訳 good?
    """),
    OT: _lines("""
        my order まだ届かない
        注文{order} の status は？
        {title_ja} vol {vol} いつ arrive する？
        tracking number 教えてください
        package どこ？{days}日経ってる
        order {order} 発送された？
        delivery date いつですか
        preorder の{title_en} shipped?
        tracking が update されてない
        まだ processing のままなんだけど
        注文した{fmt} where is it
        ETA of 注文{order}?
        配送状況 check して pls
        {days} days も待ってる、荷物どこ
        一部しか来てない、rest はいつ？
        {title_en}の{fmt} まだ shipped になってない
    """),
    FAQ: _lines("""
        shipping ってどれくらいかかる？
        送料 free になる条件は？
        return policy 教えて
        {pay} 使える？支払い方法
        international shipping してる？
        account の作り方 教えて
        password reset どうやるの
        コンビニ pickup できる？
        customer service の営業時間は？
        used manga も売ってる？
        preorder って how does it work?
        gift wrapping ありますか
        {city}まで shipping 何日？
        app ある？ iOS版
        customs fee かかる？
        email address の変更はどこ？
    """),
    RR: _lines("""
        返品したい the {title_en} box set
        refund お願いします、{order}
        {title_ja} vol {vol} damaged だった、return したい
        wrong volume 届いた、交換して
        return label ください
        {title_en}の{fmt} 破れてた、refund please
        exchange したい vol {vol} → vol {vol2}
        間違えて order した、返品 ok?
        {title_ja}が2冊 届いた、one を return
        misprint あった、replace してもらえますか
        refund の手続き start してください
        box つぶれてた、money back ほしい
        kindle版の refund できる？
        {order} の返品 how?
        send back したい {title_en} vol {vol}
        {title_ja}の{vol}巻 落丁してた、exchange お願い
    """),
    CHIT: _lines("""
        {title_en} 最高 lol
        hello〜 元気？
        thanks! 助かった
        are you bot? AIなの？
        {title_ja} vol {vol} の ending やばい
        おはよう good morning
        好きな manga は？
        ok ありがと
        bye bye またね
        {author} genius すぎ
        暇〜 talk to me
        lol 草
        nice ありがとう
        {title_en}の anime 楽しみ〜
        日本語 ok? english ok?
        {title_ja} 読み終わった、so good
    """),
    PROMO: _lines("""
        {title_en} sale ある？
        coupon code ありますか
        next sale いつ？
        {code} まだ valid?
        ポイント campaign やってる？
        first order discount ある？
        {title_ja}全巻 bundle deal ない？
        black friday セール when?
        student discount ありますか
        free shipping の campaign ある？
        today の deal は？
        {genre} manga discount してる？
        birthday coupon もらえる？
        kindle版 sale ある？
        {n}0% off coupon ほしい
        {title_en}の{fmt}、値下げ予定ある？
    """),
    CH: _lines("""
        payment が failed になる
        {code} が checkout で使えない
        card declined って出る
        {pay} で払いたいけど how?
        cart が空っぽになった
        checkout page 固まった
        gift card が checkout で使えない
        points が apply されない
        コンビニ払い how to?
        address が save できない
        order total おかしい
        guest checkout できる？
        installment で払える？
        {title_en} を cart に入れられない
        3D secure で error
        購入 button 押せない
    """),
    ESC: _lines("""
        human と話したい
        operator お願い、now
        real person につないで
        manager 出して
        bot じゃ無理、agent please
        complaint 出したい
        何回も聞いてる、escalate して
        support staff と話させて
        {order}の件、human please
        call back してください
        useless bot… 人に代わって
        live chat に switch して
        account hacked かも、urgent
        補償してほしい、talk to someone
        もう無理、real agent
        supervisor 呼んで、{days}日も放置
    """),
}

CLEAN: dict[str, dict[str, tuple[str, ...]]] = {"en": EN, "ja": JA, "mixed": MIXED}

# (template, {intent: share annotators chose with the session in view}). Short and underspecified:
# the text alone cannot settle the label, which is what caps a good model below 1.0.
AMBIGUOUS: dict[str, tuple[tuple[str, dict[str, float]], ...]] = {
    "en": (
        ("{title} vol {vol}?", {PQ: 0.55, PD: 0.45}),
        ("volume {vol}?", {PQ: 0.6, PD: 0.25, OT: 0.15}),
        ("{title}?", {PD: 0.5, PQ: 0.3, REC: 0.2}),
        ("is {title} good?", {REC: 0.55, PQ: 0.45}),
        ("is {title} worth it", {REC: 0.5, PQ: 0.5}),
        ("anything {genre}?", {PD: 0.5, REC: 0.5}),
        ("{genre} manga", {PD: 0.65, REC: 0.35}),
        ("best {genre} manga", {REC: 0.6, PD: 0.4}),
        ("top sellers in {genre}", {PD: 0.55, REC: 0.45}),
        ("is there a {title} {fmt}?", {PD: 0.5, PQ: 0.5}),
        ("do you have {title} vol {vol}", {PD: 0.5, PQ: 0.5}),
        ("{title} {fmt} available?", {PQ: 0.6, PD: 0.4}),
        ("what about {title}", {REC: 0.4, PQ: 0.3, PD: 0.3}),
        ("new {genre} stuff?", {PD: 0.55, REC: 0.45}),
        ("{title} or {title2}?", {REC: 0.7, PQ: 0.3}),
        ("anything new from {author}?", {PD: 0.6, PQ: 0.4}),
        ("still not here", {OT: 0.6, ESC: 0.3, RR: 0.1}),
        ("where is my refund", {RR: 0.5, ESC: 0.25, OT: 0.25}),
        ("my order {order} is wrong", {RR: 0.6, ESC: 0.25, OT: 0.15}),
        ("this is taking forever", {OT: 0.5, ESC: 0.5}),
        ("order {order}", {OT: 0.7, RR: 0.2, ESC: 0.1}),
        ("package says delivered but nothing here", {OT: 0.55, ESC: 0.3, RR: 0.15}),
        ("is my package lost?", {OT: 0.6, ESC: 0.4}),
        ("i sent it back {days} days ago, still no refund", {RR: 0.55, ESC: 0.45}),
        ("never got my {title} vol {vol}", {OT: 0.5, RR: 0.25, ESC: 0.25}),
        ("problem with my order", {ESC: 0.4, RR: 0.35, OT: 0.25}),
        ("the {title} box set came damaged and nobody answers", {ESC: 0.55, RR: 0.45}),
        ("help with order {order}", {OT: 0.5, RR: 0.25, ESC: 0.25}),
        ("cancel order {order}", {CH: 0.5, RR: 0.5}),
        ("charged twice for {order}", {CH: 0.45, ESC: 0.3, RR: 0.25}),
        ("i want to cancel", {CH: 0.4, RR: 0.4, ESC: 0.2}),
        ("code not working", {CH: 0.6, PROMO: 0.4}),
        ("does {code} work?", {PROMO: 0.55, CH: 0.45}),
        ("free shipping?", {FAQ: 0.5, PROMO: 0.5}),
        ("do you take {pay}?", {FAQ: 0.6, CH: 0.4}),
        ("discount?", {PROMO: 0.8, CH: 0.2}),
        ("points?", {PROMO: 0.5, FAQ: 0.3, CH: 0.2}),
        ("how do points work", {FAQ: 0.55, PROMO: 0.45}),
        ("do you price match", {FAQ: 0.5, PROMO: 0.5}),
        ("shipping cost to {city}?", {FAQ: 0.7, CH: 0.3}),
        ("can i use two coupons", {PROMO: 0.5, CH: 0.3, FAQ: 0.2}),
        ("member price?", {PROMO: 0.5, FAQ: 0.5}),
        ("why is shipping so expensive", {FAQ: 0.5, CH: 0.3, ESC: 0.2}),
        ("hello?", {CHIT: 0.6, ESC: 0.4}),
        ("anyone there?", {ESC: 0.55, CHIT: 0.45}),
        ("ugh", {ESC: 0.5, CHIT: 0.5}),
        ("what's your fav {genre} manga", {CHIT: 0.5, REC: 0.5}),
        ("is {title} overrated", {CHIT: 0.5, REC: 0.3, PQ: 0.2}),
        ("just browsing", {CHIT: 0.5, PD: 0.5}),
        ("help", {ESC: 0.4, FAQ: 0.35, CHIT: 0.25}),
        ("how do i contact support", {FAQ: 0.55, ESC: 0.45}),
        ("phone number?", {FAQ: 0.55, ESC: 0.45}),
        ("will {title} get an anime", {CHIT: 0.5, PQ: 0.5}),
        ("how long does shipping take to {city}", {FAQ: 0.7, OT: 0.3}),
        ("when will it arrive", {OT: 0.75, FAQ: 0.25}),
        ("how do i track my order", {FAQ: 0.5, OT: 0.5}),
        ("how long do refunds take", {FAQ: 0.55, RR: 0.45}),
        ("can i return opened manga", {FAQ: 0.5, RR: 0.5}),
    ),
    "ja": (
        ("{title}の{vol}巻ありますか？", {PD: 0.45, PQ: 0.55}),
        ("{title}は？", {PD: 0.5, PQ: 0.3, REC: 0.2}),
        ("{vol}巻は？", {PQ: 0.6, PD: 0.25, OT: 0.15}),
        ("{title}って面白い？", {REC: 0.55, PQ: 0.45}),
        ("{genre}の漫画ある？", {PD: 0.55, REC: 0.45}),
        ("{title}の{fmt}ってある？", {PD: 0.5, PQ: 0.5}),
        ("人気の{genre}漫画は？", {REC: 0.5, PD: 0.5}),
        ("{author}の新しいのある？", {PD: 0.6, PQ: 0.4}),
        ("まだ届かない", {OT: 0.6, ESC: 0.3, RR: 0.1}),
        ("返金まだ？", {RR: 0.55, ESC: 0.25, OT: 0.2}),
        ("注文{order}がおかしい", {RR: 0.5, ESC: 0.3, OT: 0.2}),
        ("遅すぎる", {OT: 0.5, ESC: 0.5}),
        ("配達完了になってるけど届いてない", {OT: 0.55, ESC: 0.3, RR: 0.15}),
        ("荷物なくなった？", {OT: 0.6, ESC: 0.4}),
        ("注文の件で困ってます", {ESC: 0.4, RR: 0.3, OT: 0.3}),
        ("キャンセルしたい", {CH: 0.45, RR: 0.4, ESC: 0.15}),
        ("二重請求されてる", {CH: 0.45, ESC: 0.3, RR: 0.25}),
        ("クーポン使えない", {CH: 0.6, PROMO: 0.4}),
        ("{code}使える？", {PROMO: 0.55, CH: 0.45}),
        ("送料無料？", {FAQ: 0.5, PROMO: 0.5}),
        ("{pay}使えますか", {FAQ: 0.6, CH: 0.4}),
        ("ポイントは？", {PROMO: 0.5, FAQ: 0.3, CH: 0.2}),
        ("割引ある？", {PROMO: 0.8, CH: 0.2}),
        ("ポイントの仕組みを教えて", {FAQ: 0.55, PROMO: 0.45}),
        ("クーポンって併用できる？", {PROMO: 0.5, CH: 0.3, FAQ: 0.2}),
        ("もしもし？", {CHIT: 0.6, ESC: 0.4}),
        ("誰かいますか", {ESC: 0.55, CHIT: 0.45}),
        ("はぁ…", {ESC: 0.5, CHIT: 0.5}),
        ("好きな{genre}漫画は？", {CHIT: 0.5, REC: 0.5}),
        ("見てるだけです", {CHIT: 0.5, PD: 0.5}),
        ("問い合わせ先を教えて", {FAQ: 0.55, ESC: 0.45}),
        ("{title}ってアニメ化する？", {CHIT: 0.5, PQ: 0.5}),
        ("助けて", {ESC: 0.45, FAQ: 0.3, CHIT: 0.25}),
        ("届くまで何日かかる？", {FAQ: 0.6, OT: 0.4}),
        ("返金ってどれくらいかかる？", {FAQ: 0.55, RR: 0.45}),
        ("開封済みでも返品できる？", {FAQ: 0.5, RR: 0.5}),
    ),
    "mixed": (
        ("{title_en}の{fmt} ある？", {PD: 0.5, PQ: 0.5}),
        ("{title_ja} vol {vol}?", {PQ: 0.55, PD: 0.45}),
        ("{title_en} good? 面白い？", {REC: 0.55, PQ: 0.45}),
        ("{genre} manga ある？", {PD: 0.55, REC: 0.45}),
        ("still 届いてない", {OT: 0.6, ESC: 0.3, RR: 0.1}),
        ("refund まだ？", {RR: 0.55, ESC: 0.25, OT: 0.2}),
        ("order {order} cancel したい", {CH: 0.5, RR: 0.5}),
        ("double charge されてる", {CH: 0.45, ESC: 0.3, RR: 0.25}),
        ("coupon 使えない", {CH: 0.6, PROMO: 0.4}),
        ("free shipping ある？", {FAQ: 0.5, PROMO: 0.5}),
        ("{pay} ok?", {FAQ: 0.6, CH: 0.4}),
        ("points 使える？", {PROMO: 0.5, CH: 0.3, FAQ: 0.2}),
        ("hello? 誰かいる？", {ESC: 0.55, CHIT: 0.45}),
        ("support の連絡先 教えて", {FAQ: 0.55, ESC: 0.45}),
        ("fav {genre} manga は？", {CHIT: 0.5, REC: 0.5}),
        ("shipping 何日かかる？", {FAQ: 0.6, OT: 0.4}),
    ),
}

# Joins for two-request messages, and the small talk real users wrap requests in.
CONNECTORS: dict[str, tuple[str, ...]] = {
    "en": (". also ", ", also ", " and ", ". btw ", ", oh and ", " + ", ". ", "... also "),
    "ja": ("。あと、", "。それと", "、あと", "。ついでに", "。", "！あと", "。それから"),
    "mixed": (". あと ", "。also ", "、and ", " btw ", "。", " + "),
}
PREFIXES: dict[str, tuple[str, ...]] = {
    "en": (
        "hi, ",
        "hey ",
        "hello, ",
        "um ",
        "quick question: ",
        "excuse me, ",
        "yo ",
        "sorry, ",
        "hi there! ",
        "ok so ",
        "hey, ",
        "good morning, ",
    ),
    "ja": (
        "すみません、",
        "あの、",
        "ねえ、",
        "こんにちは、",
        "お世話になっております。",
        "ちょっと質問です。",
        "すいません、",
        "あのー、",
        "失礼します。",
    ),
    "mixed": ("hi, ", "すみません、", "hey ", "あの、", "hello〜 ", "ねえ "),
}
SUFFIXES: dict[str, tuple[str, ...]] = {
    "en": (" thanks", " pls", " thx!", " asap", "??", "!!", " lol", " please", " ty", " tia"),
    "ja": ("。", "！", "〜", "w", "(泣)", "お願いします", "。よろしくお願いします。", "。"),
    "mixed": (" pls", " thx", "！", "〜", " lol", "お願いします"),
}
EMOJI: tuple[str, ...] = ("😭", "🙏", "📦", "🔥", "✨", "😅", "😡", "💢", "🤔", "👀", "❤️", "😂", "📚", "🥺")
# Informal spellings of frequent English words (whole words only).
SLANG: dict[str, tuple[str, ...]] = {
    "you": ("u", "ya"),
    "please": ("pls", "plz"),
    "are": ("r",),
    "thanks": ("thx", "ty"),
    "what's": ("whats", "wats"),
    "don't": ("dont",),
    "i'm": ("im",),
    "because": ("cuz",),
    "your": ("ur",),
    "really": ("rly",),
    "know": ("kno",),
    "tonight": ("tonite",),
    "with": ("w/",),
    "can't": ("cant",),
    "where's": ("wheres",),
    "it's": ("its",),
    "volume": ("vol", "v."),
    "order": ("ordr",),
    "something": ("smth", "sth"),
    "recommend": ("reccomend", "recomend"),
}

# Slot vocabularies.
FORMAT_JA: dict[str, str] = {
    "paperback": "単行本",
    "kindle": "Kindle版",
    "box set": "BOXセット",
    "collector's edition": "限定版",
    "omnibus": "愛蔵版",
}
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "aot": ("AoT", "snk"),
    "jjk": ("JJK",),
    "mha": ("MHA", "BNHA"),
    "chainsaw_man": ("CSM",),
    "fma": ("FMA",),
    "jojo": ("JoJo", "jjba"),
    "spy_family": ("SxF",),
    "demon_slayer": ("KNY",),
    "one_piece": ("OP",),
    "dragon_ball": ("DB",),
    "dungeon_meshi": ("dunmeshi",),
    "frieren": ("frieren",),
}
DEMOGRAPHICS: dict[str, tuple[str, ...]] = {
    "en": ("shonen", "seinen", "shojo", "josei", "isekai"),
    "ja": ("少年", "青年", "少女", "女性", "異世界"),
}
CITIES: dict[str, tuple[str, ...]] = {
    "en": ("Osaka", "Tokyo", "Seattle", "London", "Toronto", "Sydney", "Hokkaido", "Okinawa", "Berlin"),
    "ja": ("大阪", "北海道", "沖縄", "福岡", "札幌", "名古屋", "仙台", "離島"),
}
COUNTRIES: tuple[str, ...] = ("Canada", "the UK", "Australia", "Germany", "Brazil", "Singapore", "Mexico")
PAYMENTS: dict[str, tuple[str, ...]] = {
    "en": (
        "PayPal",
        "Apple Pay",
        "Google Pay",
        "a debit card",
        "Amex",
        "a gift card",
        "konbini payment",
        "cash on delivery",
    ),
    "ja": (
        "PayPay",
        "コンビニ払い",
        "代引き",
        "クレジットカード",
        "Apple Pay",
        "楽天ペイ",
        "d払い",
        "ギフトカード",
    ),
}
AUTHORS_JA: dict[str, str] = {
    "Eiichiro Oda": "尾田栄一郎",
    "Masashi Kishimoto": "岸本斉史",
    "Koyoharu Gotouge": "吾峠呼世晴",
    "Hajime Isayama": "諫山創",
    "Gege Akutami": "芥見下々",
    "Kohei Horikoshi": "堀越耕平",
    "Tatsuki Fujimoto": "藤本タツキ",
    "Tatsuya Endo": "遠藤達哉",
    "Akira Toriyama": "鳥山明",
    "Kanehito Yamada": "山田鐘人",
    "Aka Akasaka": "赤坂アカ",
    "Muneyuki Kaneshiro": "金城宗幸",
    "Hiromu Arakawa": "荒川弘",
    "Tsugumi Ohba": "大場つぐみ",
    "Sui Ishida": "石田スイ",
    "Makoto Yukimura": "幸村誠",
    "Haruichi Furudate": "古舘春一",
    "Hideaki Sorachi": "空知英秋",
    "Hirohiko Araki": "荒木飛呂彦",
    "Kentaro Miura": "三浦建太郎",
    "Ryoko Kui": "九井諒子",
    "Natsu Hyuuga": "日向夏",
    "Yukinobu Tatsu": "龍幸伸",
    "Naoya Matsumoto": "松本直也",
    "Satoru Noda": "野田サトル",
    "Hitoshi Iwaaki": "岩明均",
    "Yuki Urushibara": "漆原友紀",
    "Kiyohiko Azuma": "あずまきよひこ",
    "Chica Umino": "羽海野チカ",
    "Haruko Ichikawa": "市川春子",
    "Gamon Sakurai": "桜井画門",
    "Q Hayashida": "林田球",
    "Akimi Yoshida": "吉田秋生",
    "Tsukumizu": "つくみず",
    "Tsutomu Nihei": "弐瓶勉",
    "Inio Asano": "浅野いにお",
    "Kamome Shirahama": "白浜鴎",
    "Masakazu Ishiguro": "石黒正数",
    "Yuhki Kamatani": "鎌谷悠希",
}
PROMO_CODES: tuple[str, ...] = (
    "MANGA20",
    "SUMMER15",
    "WELCOME10",
    "OTAKU5",
    "SHONEN25",
    "NEWVOL",
    "FREESHIP",
    "BF2026",
    "GW10",
    "POINTS2X",
)
