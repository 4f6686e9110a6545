//! Setup of question 21 (tasks, models, measurements used only by its experiment).
