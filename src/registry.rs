//! The one registry: all 21 questions, their experiments and the seed answers.
//! `harness`, the report and the tests read this list; there is no second one.

use crate::claim::ClaimSpec;
use crate::spec;

/// One interview question and the experiment that checks its answer.
pub struct Question {
    pub number: u32,
    /// Experiment binary and results folder name.
    pub experiment: &'static str,
    pub title: &'static str,
    /// The question in its original wording (Chinese).
    pub original: &'static str,
    /// The seed answer in its original wording.
    pub seed_answer: &'static str,
    /// What the seed answer claims, in English.
    pub seed_claims: &'static str,
    /// Whether the experiment binary exists yet.
    pub implemented: bool,
    /// The claims its experiment decides, declared in `src/spec/qNN.rs`.
    pub claims: &'static [ClaimSpec],
}

pub const QUESTIONS: &[Question] = &[
    Question {
        number: 1,
        experiment: "q01_multi_head",
        title: "Why multi-head attention rather than one head?",
        original: "Transformer为何使用多头注意力机制?(为什么不使用一个头)",
        seed_answer: r#"多头可以使参数矩阵形成多个子空间,矩阵整体的size不变,只是改变了每个head对应的维度大小,这样做使矩阵对多方面信息进行学习,但是计算量和单个head差不多。"#,
        seed_claims: r#"Splitting d_model into h heads keeps parameters and compute about the same as one head; several heads learn different subspaces that one head cannot."#,
        implemented: true,
        claims: spec::q01::CLAIMS,
    },
    Question {
        number: 2,
        experiment: "q02_qk_projections",
        title: "Why do Q and K use different projection matrices?",
        original: "Transformer为什么Q和K使用不同的权重矩阵生成,为何不能使用同一个值进行自身的点乘?",
        seed_answer: r#"请求和键值初始为不同的权重是为了解决可能输入句长与输出句长不一致的问题。并且假如QK维度一致,如果不用Q,直接拿K和K点乘的话,你会发现attention score 矩阵是一个对称矩阵。因为是同样一个矩阵,都投影到了同样一个空间,所以泛化能力很差。"#,
        seed_claims: r#"Separate W_Q and W_K exist because input and output lengths can differ; with one shared matrix the score matrix is symmetric and, projected into one space, generalizes poorly."#,
        implemented: true,
        claims: spec::q02::CLAIMS,
    },
    Question {
        number: 3,
        experiment: "q03_additive_vs_dot",
        title: "Why dot-product rather than additive attention? Cost and quality?",
        original: "Transformer计算attention的时候为何选择点乘而不是加法?两者计算复杂度和效果上有什么区别?",
        seed_answer: r#"K和Q的点乘是为了得到一个attention score 矩阵,用来对V进行提纯。K和Q使用了不同的W_k, W_Q来计算,可以理解为是在不同空间上的投影。正因为 有了这种不同空间的投影,增加了表达能力,这样计算得到的attention score矩阵的泛化能力更高。"#,
        seed_claims: r#"(Off-topic: it explains the Q/K projections instead of comparing additive and dot-product attention.)"#,
        implemented: true,
        claims: spec::q03::CLAIMS,
    },
    Question {
        number: 4,
        experiment: "q04_softmax_scaling",
        title: "Why scale by sqrt(d_k) before the softmax?",
        original: "为什么在进行softmax之前需要对attention进行scaled(为什么除以dk的平方根),并使用公式推导进行讲解",
        seed_answer: r#"假设 Q 和 K 的均值为0,方差为1。它们的矩阵乘积将有均值为0,方差为dk,因此使用dk的平方根被用于缩放,因为,Q 和 K 的矩阵乘积的均值本应该为 0,方差本应该为1,这样可以获得更平缓的softmax。当维度很大时,点积结果会很大,会导致softmax的梯度很小。为了减轻这个影响,对点积进行缩放。"#,
        seed_claims: r#"If q and k have mean 0 and variance 1, q.k has variance d_k; large dot products push the softmax where gradients are tiny, so dividing by sqrt(d_k) restores unit variance."#,
        implemented: true,
        claims: spec::q04::CLAIMS,
    },
    Question {
        number: 5,
        experiment: "q05_padding_mask",
        title: "How is padding masked when computing attention scores?",
        original: "在计算attention score的时候如何对padding做mask操作?",
        seed_answer: r#"对需要mask的位置设为负无穷,再对attention score进行相加"#,
        seed_claims: r#"Set padded positions' scores to -inf (added to the scores) before the softmax."#,
        implemented: true,
        claims: spec::q05::CLAIMS,
    },
    Question {
        number: 6,
        experiment: "q06_head_dim",
        title: "Why reduce the dimension of each head?",
        original: "为什么在进行多头注意力的时候需要对每个head进行降维?",
        seed_answer: r#"将原有的高维空间转化为多个低维空间并再最后进行拼接,形成同样维度的输出,借此丰富特性信息,降低了计算量"#,
        seed_claims: r#"Projecting into several low-dimensional subspaces and concatenating enriches the features and reduces computation."#,
        implemented: true,
        claims: spec::q06::CLAIMS,
    },
    Question {
        number: 7,
        experiment: "q07_encoder_structure",
        title: "Describe the Transformer encoder.",
        original: "大概讲一下Transformer的Encoder模块?",
        seed_answer: r#"输入嵌入-加上位置编码-多个编码器层(每个编码器层包含全连接层,多头注意力层和点式前馈网络层(包含激活函数层))"#,
        seed_claims: r#"Input embedding plus positional encoding, then encoder layers, each with a fully connected layer, multi-head attention and a position-wise feed-forward network."#,
        implemented: true,
        claims: spec::q07::CLAIMS,
    },
    Question {
        number: 8,
        experiment: "q08_embedding_scale",
        title: "Why multiply the embeddings by sqrt(d_model)?",
        original: "为何在获取输入词向量之后需要对矩阵乘以embedding size的开方?",
        seed_answer: r#"embedding matrix的初始化方式是xavier init,这种方式的方差是1/embedding size,因此乘以embedding size的开方使得embedding matrix的方差是1,在这个scale下可能更有利于embedding matrix的收敛。"#,
        seed_claims: r#"Xavier initialization gives the embedding matrix variance 1/d_model, so multiplying by sqrt(d_model) brings it to 1, which may help convergence."#,
        implemented: true,
        claims: spec::q08::CLAIMS,
    },
    Question {
        number: 9,
        experiment: "q09_sinusoidal_pe",
        title: "Sinusoidal position encoding: meaning, pros, cons",
        original: "简单介绍一下Transformer的位置编码?有什么意义和优缺点?",
        seed_answer: r#"因为self-attention是位置无关的,无论句子的顺序是什么样的,通过self-attention计算的token的hidden embedding都是一样的,这显然不符合人类的思维。因此要有一个办法能够在模型中表达出一个token的位置信息,transformer使用了固定的positional encoding来表示token在句子中的绝对位置信息。"#,
        seed_claims: r#"Self-attention is order-blind; the fixed sinusoidal encoding gives each token's absolute position."#,
        implemented: true,
        claims: spec::q09::CLAIMS,
    },
    Question {
        number: 10,
        experiment: "q10_relative_pe",
        title: "Other position encodings",
        original: "你还了解哪些关于位置编码的技术,各自的优缺点是什么?",
        seed_answer: r#"相对位置编码(RPE)
  • 1.在计算attention score和weighted value时各加入一个可训练的表示相对位置的参数。
  • 2.在生成多头注意力时,把对key来说将绝对位置转换为相对query的位置3.复数域函数,已知一个词在某个位置的词向量表示,可以计算出它在任何位置的词向量表示。前两个方法是词向量+位置编码,属于亡羊补牢,复数域是生成词向量的时候即生成对应的位置信息。"#,
        seed_claims: r#"Relative position encoding adds trainable relative-position terms to scores and values; a complex-valued (rotary) encoding makes the score depend on relative position."#,
        implemented: true,
        claims: spec::q10::CLAIMS,
    },
    Question {
        number: 11,
        experiment: "q11_residual",
        title: "Residual connections",
        original: "简单讲一下Transformer中的残差结构以及意义。",
        seed_answer: r#"encoder和decoder的self-attention层和ffn层都有残差连接。反向传播的时候不会造成梯度消失。"#,
        seed_claims: r#"Both sublayers have residual connections; they keep gradients from vanishing in backpropagation."#,
        implemented: true,
        claims: spec::q11::CLAIMS,
    },
    Question {
        number: 12,
        experiment: "q12_layernorm_vs_batchnorm",
        title: "Why LayerNorm and not BatchNorm? Where is LayerNorm?",
        original: "为什么transformer块使用LayerNorm而不是BatchNorm?LayerNorm 在Transformer的位置是哪里?",
        seed_answer: r#"多头注意力层和激活函数层之间。CV使用BN是认为channel维度的信息对cv方面有重要意义,如果对channel维度也归一化会造成不同通道信息一定的损失。而同理nlp领域认为句子长度不一致,并且各个batch的信息没什么关系,因此只考虑句子内信息的归一化,也就是LN。"#,
        seed_claims: r#"LayerNorm sits between multi-head attention and the activation; sentences vary in length and batch partners are unrelated, so per-sentence normalization suits NLP."#,
        implemented: true,
        claims: spec::q12::CLAIMS,
    },
    Question {
        number: 13,
        experiment: "q13_batchnorm",
        title: "BatchNorm: what it does, pros and cons",
        original: "简答讲一下BatchNorm技术,以及它的优缺点。",
        seed_answer: r#"批归一化是对每一批的数据在进入激活函数前进行归一化,可以提高收敛速度,防止过拟合,防止梯度消失,增加网络对数据的敏感度。"#,
        seed_claims: r#"BatchNorm normalizes each batch before the activation; it speeds convergence, prevents overfitting and prevents vanishing gradients."#,
        implemented: true,
        claims: spec::q13::CLAIMS,
    },
    Question {
        number: 14,
        experiment: "q14_ffn_activation",
        title: "The feed-forward network and its activation",
        original: "简单描述一下Transformer中的前馈神经网络?使用了什么激活函数?相关优缺点?",
        seed_answer: r#"输入嵌入-加上位置编码-多个编码器层(每个编码器层包含全连接层,多头注意力层和点式前馈网络层(包含激活函数层))-多个解码器层(每个编码器层包含全连接层,多头注意力层和点式前馈网络层)-全连接层,使用了relu激活函数"#,
        seed_claims: r#"(Repeats the encoder description of Q7, then:) the activation is ReLU."#,
        implemented: true,
        claims: spec::q14::CLAIMS,
    },
    Question {
        number: 15,
        experiment: "q15_cross_attention",
        title: "How do encoder and decoder interact?",
        original: "Encoder端和Decoder端是如何进行交互的?",
        seed_answer: r#"通过转置encoder_ouput的seq_len维与depth维,进行矩阵两次乘法,即qkTv输出即可得到target_len维度的输出"#,
        seed_claims: r#"Transpose the encoder output and multiply twice (q k^T v) to get target-length outputs."#,
        implemented: true,
        claims: spec::q15::CLAIMS,
    },
    Question {
        number: 16,
        experiment: "q16_decoder_self_attention",
        title: "Decoder self-attention vs encoder self-attention",
        original: "Decoder阶段的多头自注意力和encoder的多头自注意力有什么区别?",
        seed_answer: r#"Decoder有两层mha,encoder有一层mha,Decoder的第二层mha是为了转化输入与输出句长,Decoder的请求q与键k和数值v的倒数第二个维度可以不一样,但是encoder的qkv维度一样。"#,
        seed_claims: r#"The decoder has two attention sublayers, the encoder one; in the second, query length may differ from key/value length."#,
        implemented: true,
        claims: spec::q16::CLAIMS,
    },
    Question {
        number: 17,
        experiment: "q17_parallelism",
        title: "Where is the Transformer parallel?",
        original: "Transformer的并行化提现在哪个地方?",
        seed_answer: r#"Transformer的并行化主要体现在self-attention模块,在Encoder端Transformer可以并行处理整个序列,并得到整个输入序列经过Encoder端的输出,但是rnn只能从前到后的执行"#,
        seed_claims: r#"The encoder processes the whole sequence at once through self-attention; an RNN must go step by step."#,
        implemented: true,
        claims: spec::q17::CLAIMS,
    },
    Question {
        number: 18,
        experiment: "q18_decoder_parallel",
        title: "Can the decoder run in parallel?",
        original: "Decoder端可以做并行化吗?",
        seed_answer: r#"训练的时候可以,但是交互的时候不可以"#,
        seed_claims: r#"In training yes, at inference no."#,
        implemented: true,
        claims: spec::q18::CLAIMS,
    },
    Question {
        number: 19,
        experiment: "q19_subword_tokenizers",
        title: "WordPiece and BPE",
        original: "简单描述一下wordpiece model 和 byte pair encoding,有实际应用过吗?",
        seed_answer: r#"传统词表示方法无法很好的处理未知或罕见的词汇(OOV问题)
传统词tokenization方法不利于模型学习词缀之间的关系”BPE(字节对编码)或二元编码是一种简单的数据压缩形式,其中最常见的一对连续字节数据被替换为该数据中不存在的字节。后期使用时需要一个替换表来重建原始数据。优点:可以有效地平衡词汇表大小和步数(编码句子所需的token次数)。
缺点:基于贪婪和确定的符号替换,不能提供带概率的多个分片结果。"#,
        seed_claims: r#"Subwords fix the OOV problem and capture affixes; BPE merges the most frequent adjacent pair; it balances vocabulary size against sequence length; it is greedy and deterministic, with no probabilistic segmentations."#,
        implemented: true,
        claims: spec::q19::CLAIMS,
    },
    Question {
        number: 20,
        experiment: "q20_lr_warmup_dropout",
        title: "Learning rate and dropout in Transformer training",
        original: "Transformer训练的时候学习率是如何设定的?Dropout是如何设定的,位置在哪里?Dropout 在测试的需要有什么需要注意的吗?",
        seed_answer: r#"LN是为了解决梯度消失的问题,dropout是为了解决过拟合的问题。在embedding后面加LN有利于embedding matrix的收敛。"#,
        seed_claims: r#"(Off-topic: it talks about LayerNorm against vanishing gradients and dropout against overfitting, not the learning-rate schedule or where dropout goes.)"#,
        implemented: true,
        claims: spec::q20::CLAIMS,
    },
    Question {
        number: 21,
        experiment: "q21_bert_mask",
        title: "Why doesn't BERT mask attention scores the way the decoder does?",
        original: "bert的mask为何不学习transformer在attention处进行屏蔽score的技巧?",
        seed_answer: r#"BERT和transformer的目标不一致,bert是语言的预训练模型,需要充分考虑上下文的关系,而transformer主要考虑句子中第i个元素与前i-1个元素的关系。"#,
        seed_claims: r#"BERT's objective needs both left and right context, while the decoder only looks left."#,
        implemented: true,
        claims: spec::q21::CLAIMS,
    },
];

/// The question whose experiment is `name`.
pub fn by_name(name: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.experiment == name)
}

/// The question a user means by `name`: `q4`, `Q4`, `4`, `q04`, `q04_softmax_scaling`.
pub fn resolve(name: &str) -> Option<&'static Question> {
    let n = name.trim();
    if let Some(q) = by_name(n) {
        return Some(q);
    }
    let digits = n.strip_prefix(['q', 'Q']).unwrap_or(n);
    let digits = digits.split('_').next().unwrap_or(digits);
    let num: u32 = digits.parse().ok()?;
    let q = QUESTIONS.iter().find(|q| q.number == num)?;
    // `q04_other` names a different experiment: not a match.
    if n.contains('_') && !q.experiment.starts_with(n) {
        return None;
    }
    Some(q)
}

/// The experiments that exist (binaries built, results expected).
pub fn implemented() -> impl Iterator<Item = &'static Question> {
    QUESTIONS.iter().filter(|q| q.implemented)
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_in_order_and_unique() {
        for (i, q) in super::QUESTIONS.iter().enumerate() {
            assert_eq!(q.number as usize, i + 1);
            assert!(q.experiment.starts_with(&format!("q{:02}_", i + 1)));
            assert!(!q.original.is_empty() && !q.seed_answer.is_empty());
        }
        assert_eq!(super::QUESTIONS.len(), 21);
    }

    #[test]
    fn names_resolve() {
        for n in ["q4", "Q4", "4", "q04", "q04_softmax_scaling", "04"] {
            assert_eq!(super::resolve(n).map(|q| q.number), Some(4), "{n}");
        }
        for n in ["q99", "99", "q04_other", "x", ""] {
            assert!(super::resolve(n).is_none(), "{n}");
        }
    }
}
